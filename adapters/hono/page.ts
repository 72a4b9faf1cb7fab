/**
 * The live cluster page served at `GET /`: one self-contained HTML document
 * (no external assets) whose script polls `raft/cluster` (relative to the
 * page, so the app can be mounted under a prefix) and shows every node's
 * role, term, last log index, commit and applied indexes, the leader and,
 * from the leader's progress tracking, how far each member's log matches
 * the leader's (and how it is replicated: probe, replicate or snapshot),
 * refreshing live. With a key-value route it adds a form that writes a key
 * and a list of the keys this node holds, a page at a time. In demo mode it
 * adds buttons to partition, heal, stop and restart a node. On a narrow
 * screen the tables become one card per row. Its icon
 * ({@linkcode clusterPageIcon}) is served at `favicon.ico` beside it.
 *
 * @module
 */

/** Options of {@linkcode clusterPage}. */
export interface ClusterPageOptions {
  /**
   * The page's title.
   * @default {"raft-ts cluster"}
   */
  title?: string;
  /**
   * How often the page refreshes, in milliseconds.
   * @default {1000}
   */
  refreshMs?: number;
  /**
   * The path of a key-value route (`PUT <kvPath>/<key>` with
   * `{"value": "..."}`, and `GET <kvPath>?start=<key>&limit=<n>&consistency=stale`
   * answering `{"items": [{"key", "value", "modRevision", "version"}], "more"}`);
   * when set, the page shows a form to write a key and lists the keys.
   * @default {undefined}
   */
  kvPath?: string;
  /**
   * Show the demo buttons (partition, heal, stop).
   * @default {false}
   */
  demo?: boolean;
  /**
   * In demo mode, show a Restart button on a node that is down (the demo
   * routes must be able to restart it, which a node cannot do for itself).
   * @default {false}
   */
  demoRestart?: boolean;
  /**
   * The token the demo buttons send (header `Raft-Demo-Token`) to the demo
   * routes, which refuse requests without it: a page from another site
   * cannot read it, so it cannot press the buttons.
   * @default {undefined}
   */
  demoToken?: string;
}

/** Escapes text for HTML (content and attribute values). */
export function escapeHtml(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}

/** The page's style sheet: light and dark, and one card per table row on a narrow screen. */
const pageStyle =
  `  :root { color-scheme: light dark; --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --lead: #0969da; --rule: color-mix(in srgb, CanvasText 15%, transparent); }
  body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; }
  h1 { font-size: 1.4rem; margin: 0 0 .25rem; overflow-wrap: anywhere; }
  h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
  h2 small { font-weight: normal; color: GrayText; }
  .sub { color: GrayText; margin-bottom: 1.25rem; }
  table { border-collapse: collapse; width: 100%; margin-bottom: 1.25rem; }
  th, td { text-align: left; padding: .45rem .6rem; border-bottom: 1px solid var(--rule); overflow-wrap: anywhere; }
  th { font-weight: 600; font-size: .85rem; text-transform: uppercase; letter-spacing: .03em; }
  td.num { font-variant-numeric: tabular-nums; }
  .role { display: inline-block; padding: .05rem .5rem; border-radius: 1rem; font-size: .85rem; font-weight: 600; }
  .role.leader { background: var(--lead); color: white; }
  .role.follower { background: color-mix(in srgb, CanvasText 12%, transparent); }
  .role.candidate, .role.pre-candidate { background: var(--warn); color: white; }
  .role.down { background: var(--bad); color: white; }
  .flag { color: var(--bad); font-weight: 600; margin-left: .4rem; }
  button { font: inherit; padding: .2rem .6rem; margin-right: .3rem; cursor: pointer; }
  form, .pager { display: flex; gap: .5rem; align-items: center; margin-bottom: 1rem; flex-wrap: wrap; }
  input { font: inherit; padding: .25rem .4rem; min-width: 0; flex: 1 1 8rem; max-width: 16rem; }
  #log { font: 13px/1.4 ui-monospace, monospace; background: color-mix(in srgb, CanvasText 6%, transparent); padding: .6rem; border-radius: .4rem; max-height: 14rem; overflow: auto; white-space: pre-wrap; overflow-wrap: anywhere; }
  .err { color: var(--bad); }
  .empty { color: GrayText; }
  @media (max-width: 40rem) {
    body { margin: 1rem auto; padding: 0 .75rem; }
    table.cards thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); }
    table.cards, table.cards tbody, table.cards tr, table.cards td { display: block; }
    table.cards tr { border: 1px solid var(--rule); border-radius: .4rem; margin-bottom: .6rem; padding: .3rem .6rem; }
    table.cards td { display: flex; flex-wrap: wrap; gap: .3rem .75rem; align-items: baseline; border: 0; padding: .15rem 0; text-align: right; }
    table.cards td::before { content: attr(data-label); font-weight: 600; color: GrayText; text-align: left; margin-right: auto; }
    table.cards td:empty { display: none; }
    input { max-width: none; }
  }
`;

/** The page's markup before its script: the summary, the nodes, the key-value form and list, the log. */
function pageMarkup(title: string): string {
  return `<h1>${escapeHtml(title)}</h1>
<div class="sub" id="summary">Loading…</div>
<table id="nodes" class="cards" aria-label="cluster nodes">
  <thead><tr>
    <th>Node</th><th>Role</th><th>Term</th><th>Leader</th><th>Last index</th><th>Commit</th><th>Applied</th><th>Match (leader's view)</th><th id="actions-head">Actions</th>
  </tr></thead>
  <tbody></tbody>
</table>
<form id="write" hidden>
  <strong>Write a key</strong>
  <input id="write-key" placeholder="key" value="hello" required>
  <input id="write-value" placeholder="value" value="world">
  <button type="submit">Write</button>
  <span id="write-result"></span>
</form>
<section id="keys" hidden>
  <h2>Keys <small>on this node</small></h2>
  <form id="keys-filter">
    <input id="keys-prefix" placeholder="key prefix" aria-label="key prefix">
    <button type="submit">Filter</button>
  </form>
  <table id="keys-list" class="cards" aria-label="keys">
    <thead><tr><th>Key</th><th>Value</th><th>Revision</th><th>Version</th></tr></thead>
    <tbody></tbody>
  </table>
  <div class="pager">
    <button id="keys-prev" type="button" disabled>Previous</button>
    <span id="keys-page"></span>
    <button id="keys-next" type="button" disabled>Next</button>
  </div>
</section>
<div id="log" aria-label="events"></div>
`;
}

/** The page script's shared parts: its elements, the log, table cells, the demo buttons and their requests. */
const scriptHelpers = `const tbody = document.querySelector("#nodes tbody");
const summary = document.getElementById("summary");
const logBox = document.getElementById("log");
const nodeLabels = [...document.querySelectorAll("#nodes th")].map((th) => th.textContent);
let lastLeader = undefined;
document.getElementById("actions-head").hidden = !config.demo;

function log(text, isError) {
  const line = document.createElement("div");
  if (isError) line.className = "err";
  line.textContent = new Date().toLocaleTimeString() + "  " + text;
  logBox.prepend(line);
  while (logBox.childNodes.length > 200) logBox.lastChild.remove();
}

function cell(row, text, cls, labels) {
  const td = document.createElement("td");
  if (cls) td.className = cls;
  td.dataset.label = (labels || nodeLabels)[row.children.length] || "";
  td.textContent = text === null || text === undefined ? "–" : String(text);
  row.appendChild(td);
  return td;
}

function button(label, action, onclick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.dataset.action = action;
  b.onclick = onclick;
  return b;
}

async function act(id, action) {
  try {
    const headers = config.demoToken ? { "raft-demo-token": config.demoToken } : {};
    const res = await fetch("raft/demo/nodes/" + id + "/" + action, { method: "POST", headers });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(body.error ? body.error.message : "HTTP " + res.status);
    log("node " + id + ": " + action + (action === "restart" ? "ed" : " requested"));
  } catch (e) {
    log("node " + id + ": " + action + " failed: " + e.message, true);
  }
  refresh();
}

`;

/** The page script's node table, rendered from `raft/cluster`. */
const scriptNodes = `function render(cluster) {
  tbody.textContent = "";
  const leaderNode = cluster.nodes.find((n) => n.status && n.status.role === "leader");
  const progress = new Map();
  if (leaderNode) for (const m of leaderNode.status.members) progress.set(m.id, m.progress);
  for (const n of cluster.nodes) {
    const s = n.status;
    const row = document.createElement("tr");
    row.dataset.nodeId = String(n.id);
    row.dataset.role = s ? s.role : "down";
    const name = cell(row, "");
    if (n.apiUrl) {
      const a = document.createElement("a");
      a.href = n.apiUrl + "/";
      a.textContent = "node " + n.id;
      name.appendChild(a);
    } else {
      name.textContent = "node " + n.id;
    }
    if (n.id === cluster.self) name.append(" (this page)");
    const roleCell = cell(row, "");
    const badge = document.createElement("span");
    badge.className = "role " + (s ? s.role : "down");
    badge.textContent = s ? s.role : (n.error ? "unreachable" : "down");
    roleCell.appendChild(badge);
    if (s && s.isolated) {
      const f = document.createElement("span");
      f.className = "flag";
      f.textContent = "partitioned";
      roleCell.appendChild(f);
    }
    cell(row, s ? s.term : null, "num");
    cell(row, s ? (s.leaderId || "none") : null, "num");
    cell(row, s ? s.lastIndex : null, "num");
    cell(row, s ? s.commit : null, "num");
    cell(row, s ? s.applied : null, "num");
    const p = progress.get(n.id);
    const match = cell(row, p ? p.match : null, "num");
    if (p) {
      match.dataset.state = p.state;
      match.title = p.state + ", next " + p.next + ", " + p.inflight + " in flight";
      if (p.state !== "replicate") match.append(" (" + p.state + ")");
    }
    if (config.demo) {
      const td = cell(row, "");
      if (s) {
        const partition = s.isolated ? "heal" : "partition";
        td.append(
          button(s.isolated ? "Heal" : "Partition", partition, () => act(n.id, partition)),
          button("Stop", "stop", () => act(n.id, "stop")),
        );
      } else if (config.demoRestart) {
        td.append(button("Restart", "restart", () => act(n.id, "restart")));
      }
    }
    tbody.appendChild(row);
  }
  const up = cluster.nodes.filter((n) => n.status).length;
  const leader = leaderNode ? leaderNode.id : 0;
  summary.textContent = (leader ? "Leader: node " + leader + ", term " + leaderNode.status.term : "No leader") +
    " · " + up + "/" + cluster.nodes.length + " nodes up · refreshed " + new Date().toLocaleTimeString();
  summary.dataset.leader = String(leader);
  if (leader !== lastLeader) {
    log(leader ? "node " + leader + " is the leader (term " + leaderNode.status.term + ")" : "no leader");
    lastLeader = leader;
  }
}

`;

/** The page script's key list, a page at a time. */
const scriptKeys = `// The key list: pages start at keys.starts' last entry; one item more than
// a page is asked for, to know whether another page follows.
const keys = { prefix: "", starts: [""], shown: [], more: false };
const keysBody = document.querySelector("#keys-list tbody");
const keyLabels = [...document.querySelectorAll("#keys-list th")].map((th) => th.textContent);

async function loadKeys() {
  const start = keys.starts[keys.starts.length - 1] || keys.prefix;
  const params = new URLSearchParams({ limit: String(config.keysPageSize + 1), consistency: "stale" });
  if (start) params.set("start", start);
  const res = await fetch(config.kvPath + "?" + params, { cache: "no-store" });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error ? body.error.message : "HTTP " + res.status);
  const items = body.items.filter((it) => it.key.startsWith(keys.prefix));
  keys.more = items.length > config.keysPageSize;
  keys.shown = items.slice(0, config.keysPageSize);
  keysBody.textContent = "";
  for (const it of keys.shown) {
    const row = document.createElement("tr");
    row.dataset.key = it.key;
    cell(row, it.key, "", keyLabels);
    cell(row, it.value.length > 200 ? it.value.slice(0, 200) + "…" : it.value, "", keyLabels);
    cell(row, it.modRevision, "num", keyLabels);
    cell(row, it.version, "num", keyLabels);
    keysBody.appendChild(row);
  }
  if (keys.shown.length === 0) {
    const row = document.createElement("tr");
    const td = cell(row, keys.prefix ? "no keys start with " + JSON.stringify(keys.prefix) : "no keys", "empty", [""]);
    td.colSpan = 4;
    keysBody.appendChild(row);
  }
  const page = keys.starts.length;
  document.getElementById("keys-page").textContent = "page " + page + " · revision " + body.revision;
  document.getElementById("keys-prev").disabled = page === 1;
  document.getElementById("keys-next").disabled = !keys.more;
}

`;

/** The page script's refresh loop and the key-value form; it starts the first refresh. */
const scriptRefresh = `let timer;
async function refresh() {
  clearTimeout(timer);
  try {
    const res = await fetch("raft/cluster", { cache: "no-store" });
    if (!res.ok) throw new Error("HTTP " + res.status);
    render(await res.json());
  } catch (e) {
    summary.textContent = "Cannot reach this node: " + e.message;
    summary.dataset.leader = "";
  }
  if (config.kvPath) {
    await loadKeys().catch((e) => {
      document.getElementById("keys-page").textContent = "Cannot list the keys: " + e.message;
    });
  }
  timer = setTimeout(refresh, config.refreshMs);
}

if (config.kvPath) {
  const form = document.getElementById("write");
  form.hidden = false;
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    const key = document.getElementById("write-key").value;
    const value = document.getElementById("write-value").value;
    const out = document.getElementById("write-result");
    try {
      const res = await fetch(config.kvPath + "/" + encodeURIComponent(key), {
        method: "PUT",
        headers: { "content-type": "application/json", "raft-routing": "forward" },
        body: JSON.stringify({ value }),
      });
      const body = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error(body.error ? body.error.message : "HTTP " + res.status);
      out.textContent = "wrote " + key + " at revision " + body.revision;
      out.className = "";
      log("wrote " + key + "=" + value + " (revision " + body.revision + ")");
    } catch (e) {
      out.textContent = e.message;
      out.className = "err";
      log("write failed: " + e.message, true);
    }
    refresh();
  };
  document.getElementById("keys").hidden = false;
  document.getElementById("keys-filter").onsubmit = (ev) => {
    ev.preventDefault();
    keys.prefix = document.getElementById("keys-prefix").value;
    keys.starts = [""];
    refresh();
  };
  document.getElementById("keys-next").onclick = () => {
    // The smallest key after the page's last one.
    keys.starts.push(keys.shown[keys.shown.length - 1].key + "\\u0000");
    refresh();
  };
  document.getElementById("keys-prev").onclick = () => {
    keys.starts.pop();
    refresh();
  };
}
refresh();
`;

/**
 * Renders the cluster page.
 *
 * @param options Title, refresh period, key-value route, demo buttons.
 * @returns The HTML document.
 * @throws {RangeError} When `refreshMs` is not a positive number.
 *
 * @example Usage
 * ```ts
 * import { clusterPage } from "@raft-ts/raft/hono";
 * const html = clusterPage({ title: "kv", kvPath: "/kv", demo: true });
 * if (!html.startsWith("<!doctype html>") || !html.includes("<title>kv</title>")) {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export function clusterPage(options: ClusterPageOptions = {}): string {
  const title = options.title ?? "raft-ts cluster";
  const refreshMs = options.refreshMs ?? 1000;
  if (!(refreshMs > 0) || !Number.isFinite(refreshMs)) {
    throw new RangeError(
      `Cannot render the cluster page as 'refreshMs' must be a positive number: current value ${refreshMs}`,
    );
  }
  const keysPageSize = 10;
  const config = JSON.stringify({
    refreshMs,
    kvPath: options.kvPath ?? null,
    demo: options.demo ?? false,
    demoToken: options.demoToken ?? null,
    demoRestart: options.demoRestart ?? false,
    keysPageSize,
  }).replaceAll("<", "\\u003c");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="icon" href="favicon.ico" type="image/svg+xml">
<style>
${pageStyle}</style>
</head>
<body>
${pageMarkup(title)}<script>
"use strict";
const config = ${config};
${scriptHelpers}${scriptNodes}${scriptKeys}${scriptRefresh}</script>
</body>
</html>
`;
}

/**
 * The page's icon, an SVG document (three members, one of them leading).
 */
export const clusterPageIcon: string =
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">` +
  `<rect width="32" height="32" rx="7" fill="#0969da"/>` +
  `<path d="M16 9 8.5 22.5h15Z" fill="none" stroke="#fff" stroke-width="1.6"/>` +
  `<circle cx="16" cy="9" r="4.6" fill="#fff"/>` +
  `<circle cx="8.5" cy="22.5" r="3.8" fill="#cfe3ff"/>` +
  `<circle cx="23.5" cy="22.5" r="3.8" fill="#cfe3ff"/></svg>`;
