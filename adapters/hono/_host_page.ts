/**
 * The live page of a host app: the host's groups (how many, leaders per
 * host, without a leader, quiesced) and one row per group, refreshed every
 * second from `GET /raft/status` and `GET /raft/groups`. Self-contained:
 * one inline style and one inline script (allowed by hash).
 *
 * @module
 */

import { escapeHtml } from "./page.ts";

const style = `body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em}table{border-collapse:collapse}td,th{padding:2px 10px;text-align:right}
th{border-bottom:1px solid #999}tr.lead{font-weight:600}#summary span{margin-right:1.5em}`;

const script = `const $ = (id) => document.getElementById(id);
function cell(row, text) { const td = document.createElement("td"); td.textContent = String(text); row.append(td); }
async function refresh() {
  try {
    const [st, gs] = await Promise.all([
      fetch("/raft/status").then((r) => r.json()),
      fetch("/raft/groups").then((r) => r.json()),
    ]);
    const per = Object.entries(st.leadersPerHost).map(([h, n]) => "host " + h + ": " + n).join(", ");
    $("summary").textContent = "host " + st.hostId + " · " + st.groups + " groups · leads " +
      st.leading.length + " · leaders per host: " + (per || "none") + " · without leader: " +
      st.withoutLeader + " · quiesced: " + (st.quiesced ?? "n/a") + " · failed: " + st.failed;
    const body = $("groups");
    body.replaceChildren();
    for (const g of gs.groups) {
      const row = document.createElement("tr");
      if (g.role === "leader") row.className = "lead";
      for (const v of [g.groupId, g.role, g.leaderId || "-", g.term, g.commit, g.applied]) cell(row, v);
      body.append(row);
    }
    $("error").textContent = "";
  } catch (e) {
    $("error").textContent = "cannot reach the host: " + e.message;
  }
}
refresh();
setInterval(refresh, 1000);`;

/**
 * The page's HTML.
 *
 * @param title The page's title.
 * @returns The document.
 */
export function hostPage(title: string): string {
  const t = escapeHtml(title);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${t}</title>` +
    `<style>${style}</style></head><body><h1>${t}</h1><p id="summary"></p><p id="error"></p>` +
    `<table><thead><tr><th>group</th><th>role</th><th>leader</th><th>term</th><th>commit</th>` +
    `<th>applied</th></tr></thead><tbody id="groups"></tbody></table>` +
    `<script>${script}</script></body></html>`;
}
