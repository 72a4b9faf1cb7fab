/**
 * The live cluster page in headless Chromium: three `kv_server` processes
 * in demo mode; the page shows every node and the leader, writes a key,
 * partitions the leader (a new one is elected and shown), heals it, stops a
 * node, and a screenshot is written to a temporary directory.
 *
 * Needs Debian's `chromium` (`/usr/bin/chromium`, or `CHROMIUM_PATH`) and
 * the `playwright-core` package (or `PLAYWRIGHT_CORE` naming its entry
 * module). Without them the test is skipped with a message, except under
 * `CI=true`, where it fails.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { currentRuntime, KvClient, LocalCluster } from "../../examples/local_cluster.ts";

const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ci = process.env.CI === "true";

// The parts of playwright-core used here.
interface Locator {
  click(): Promise<void>;
  fill(value: string): Promise<void>;
  textContent(): Promise<string | null>;
  count(): Promise<number>;
  getAttribute(name: string): Promise<string | null>;
}
interface Page {
  goto(url: string): Promise<unknown>;
  locator(selector: string): Locator;
  waitForFunction(fn: string, arg?: unknown, options?: { timeout: number }): Promise<unknown>;
  screenshot(options: { path: string; fullPage: boolean }): Promise<unknown>;
}
interface Browser {
  newPage(): Promise<Page>;
  close(): Promise<void>;
}
interface PlaywrightCore {
  chromium: {
    launch(
      options: { executablePath: string; args: string[]; headless: boolean },
    ): Promise<Browser>;
  };
}

async function loadPlaywright(): Promise<PlaywrightCore | string> {
  const specifiers = [process.env.PLAYWRIGHT_CORE, "playwright-core"].filter(
    (s): s is string => s !== undefined && s !== "",
  );
  const errors: string[] = [];
  for (const s of specifiers) {
    try {
      return (await import(s)) as PlaywrightCore;
    } catch (e) {
      errors.push(`${s}: ${e instanceof Error ? e.message.split("\n")[0] : e}`);
    }
  }
  return `playwright-core is not installed (${errors.join("; ")})`;
}

async function prerequisites(): Promise<PlaywrightCore | string> {
  if (!existsSync(chromiumPath)) {
    return `${chromiumPath} is missing (install Debian's chromium: apt-get install -y chromium)`;
  }
  return await loadPlaywright();
}

const ready = await prerequisites();
const skip = typeof ready === "string" && !ci ? `browser test skipped: ${ready}` : false;
if (skip !== false) console.log(skip);

test(
  `the cluster page shows the cluster live and its demo buttons work (${currentRuntime()})`,
  { timeout: 60_000, skip },
  async () => {
    if (typeof ready === "string") throw new Error(`Cannot run the browser test: ${ready}`);
    const dataDir = mkdtempSync(join(tmpdir(), "raft-ts-browser-"));
    const shots = mkdtempSync(join(tmpdir(), "raft-ts-page-"));
    const cluster = await LocalCluster.start({
      dataDir,
      runtime: currentRuntime(),
      tickMs: 50,
      demo: true,
      log: "warn",
    });
    const browser = await ready.chromium.launch({
      executablePath: chromiumPath,
      args: ["--no-sandbox", "--disable-dev-shm-usage"],
      headless: true,
    });
    try {
      const first = await cluster.waitForLeader();
      const page = await browser.newPage();
      await page.goto(`${cluster.url(1)}/`);
      const leaderShown = (notId: number, timeout = 15_000) =>
        page.waitForFunction(
          `(() => { const l = document.getElementById("summary").dataset.leader;
             return l !== undefined && l !== "" && l !== "0" && l !== "${notId}"; })()`,
          undefined,
          { timeout },
        );
      await leaderShown(0);
      assert.equal(await page.locator("tr[data-node-id]").count(), 3);
      assert.equal(
        await page.locator(`tr[data-node-id="${first.id}"]`).getAttribute("data-role"),
        "leader",
      );
      assert.match((await page.locator("#summary").textContent())!, /Leader: node \d, term \d+/);

      // Write a key through the page's form (forwarded to the leader).
      await page.locator("#write-key").fill("from-the-browser");
      await page.locator("#write-value").fill("hello");
      await page.locator("#write button").click();
      await page.waitForFunction(
        `document.getElementById("write-result").textContent.startsWith("wrote from-the-browser")`,
        undefined,
        { timeout: 10_000 },
      );
      const client = new KvClient(() => cluster.ids().map((id) => cluster.url(id)));
      assert.equal((await client.get("from-the-browser"))?.value, "hello");

      // Partition the leader: another node is elected, and the page shows it.
      await page.locator(`tr[data-node-id="${first.id}"] button[data-action="partition"]`).click();
      await leaderShown(first.id, 20_000);
      await page.waitForFunction(
        `document.querySelector('tr[data-node-id="${first.id}"] .flag')?.textContent === "partitioned"`,
        undefined,
        { timeout: 5_000 },
      );
      await page.screenshot({ path: join(shots, "partitioned.png"), fullPage: true });

      // Heal it, then stop a node that does not serve the page.
      await page.locator(`tr[data-node-id="${first.id}"] button[data-action="heal"]`).click();
      await page.waitForFunction(
        `document.querySelector('tr[data-node-id="${first.id}"] .flag') === null`,
        undefined,
        { timeout: 5_000 },
      );
      const victim = cluster.ids().find((id) => id !== 1)!;
      await page.locator(`tr[data-node-id="${victim}"] button[data-action="stop"]`).click();
      await page.waitForFunction(
        `document.querySelector('tr[data-node-id="${victim}"]')?.dataset.role === "down"`,
        undefined,
        { timeout: 10_000 },
      );
      const shot = join(shots, "cluster.png");
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok(statSync(shot).size > 1000);
      console.log(`  screenshots: ${shots}`);
    } finally {
      await browser.close();
      await cluster.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  },
);
