/**
 * The live cluster page in headless Chromium: three `kv_server` processes
 * in demo mode; the page shows every node and the leader, writes a key,
 * lists keys a page at a time, partitions the leader (a new one is elected
 * and shown), heals it, stops a node and restarts it. Screenshots at 1280
 * and 420 px wide are written to a temporary directory; at 420 px nothing
 * overflows horizontally. The page's content security policy stays strict:
 * the browser reports no violation, no failed request (the icon included)
 * and no script error.
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

// The parts of playwright-core used here. Predicates are functions, never
// strings: the page's policy forbids eval, which string predicates need.
interface Locator {
  click(): Promise<void>;
  fill(value: string): Promise<void>;
  textContent(): Promise<string | null>;
  count(): Promise<number>;
  getAttribute(name: string): Promise<string | null>;
}
interface ConsoleMessage {
  type(): string;
  text(): string;
}
interface PageResponse {
  status(): number;
  url(): string;
}
interface Page {
  goto(url: string): Promise<unknown>;
  locator(selector: string): Locator;
  waitForFunction<A>(
    fn: (arg: A) => boolean,
    arg: A,
    options: { timeout: number },
  ): Promise<unknown>;
  evaluate<R>(fn: () => R): Promise<R>;
  setViewportSize(size: { width: number; height: number }): Promise<void>;
  screenshot(options: { path: string; fullPage: boolean }): Promise<unknown>;
  on(event: "console", handler: (m: ConsoleMessage) => void): void;
  on(event: "pageerror", handler: (e: Error) => void): void;
  on(event: "response", handler: (r: PageResponse) => void): void;
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

// The browser's globals, as the predicates (run in the page) see them.
interface El {
  dataset: Record<string, string | undefined>;
  textContent: string | null;
  disabled?: boolean;
}
interface Dom {
  document: {
    getElementById(id: string): El | null;
    querySelector(selector: string): El | null;
    querySelectorAll(selector: string): ArrayLike<El>;
    documentElement: { scrollWidth: number };
  };
  innerWidth: number;
  getComputedStyle(e: El): { display: string };
}

test(
  `the cluster page shows the cluster live and its demo buttons work (${currentRuntime()})`,
  { timeout: 120_000, skip },
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
      // What the browser reports: policy violations and script errors, failed requests.
      const problems: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error") problems.push(`console: ${m.text()}`);
      });
      page.on("pageerror", (e) => problems.push(`script error: ${e.message}`));
      page.on("response", (r) => {
        if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.url()}`);
      });
      await page.setViewportSize({ width: 1280, height: 900 });
      await page.goto(`${cluster.url(1)}/`);
      const waitFor = <A>(fn: (arg: A) => boolean, arg: A, timeout = 10_000) =>
        page.waitForFunction(fn, arg, { timeout });
      const leaderShown = (notId: number, timeout = 15_000) =>
        waitFor(
          (not) => {
            const l = (globalThis as unknown as Dom).document.getElementById("summary")!.dataset
              .leader;
            return l !== undefined && l !== "" && l !== "0" && l !== String(not);
          },
          notId,
          timeout,
        );
      const roleShown = (id: number, role: string, timeout = 10_000) =>
        waitFor(
          ([id, role]) => {
            const row = (globalThis as unknown as Dom).document.querySelector(
              `tr[data-node-id="${id}"]`,
            );
            return role.startsWith("!")
              ? row !== null && row.dataset.role !== role.slice(1)
              : row?.dataset.role === role;
          },
          [id, role] as const,
          timeout,
        );
      const keysShown = (keys: string[], timeout = 10_000) =>
        waitFor(
          (want) => {
            const rows = (globalThis as unknown as Dom).document.querySelectorAll(
              "#keys-list tbody tr[data-key]",
            );
            return Array.from(rows, (r) => r.dataset.key).join("\n") === want;
          },
          keys.join("\n"),
          timeout,
        );
      const disabled = (selector: string): Promise<boolean> =>
        page.locator(selector).getAttribute("disabled").then((v) => v !== null);

      await leaderShown(0);
      assert.equal(await page.locator("tr[data-node-id]").count(), 3);
      assert.equal(
        await page.locator(`tr[data-node-id="${first.id}"]`).getAttribute("data-role"),
        "leader",
      );
      assert.match((await page.locator("#summary").textContent())!, /Leader: node \d, term \d+/);

      // Write a key through the page's form (forwarded to the leader); the key list shows it.
      await page.locator("#write-key").fill("from-the-browser");
      await page.locator("#write-value").fill("hello");
      await page.locator("#write button").click();
      await waitFor(
        (prefix) =>
          (globalThis as unknown as Dom).document.getElementById("write-result")!.textContent!
            .startsWith(prefix),
        "wrote from-the-browser",
      );
      const client = new KvClient(() => cluster.ids().map((id) => cluster.url(id)));
      assert.equal((await client.get("from-the-browser"))?.value, "hello");
      await keysShown(["from-the-browser"]);

      // The key list, a page (10 keys) at a time, filtered by prefix.
      const users = Array.from({ length: 12 }, (_, i) => `user/${String(i + 1).padStart(2, "0")}`);
      for (const k of users) assert.equal((await client.put(k, `v-${k}`)).acked, true);
      const wide = `wide/${"k".repeat(120)}`;
      assert.equal((await client.put(wide, "v".repeat(400))).acked, true);
      await keysShown(["from-the-browser", ...users.slice(0, 9)]);
      await page.locator("#keys-prefix").fill("user/");
      await page.locator("#keys-filter button").click();
      await keysShown(users.slice(0, 10));
      assert.equal(await disabled("#keys-prev"), true);
      assert.equal(await disabled("#keys-next"), false);
      await page.locator("#keys-next").click();
      await keysShown(users.slice(10));
      assert.equal(await disabled("#keys-next"), true);
      assert.match((await page.locator("#keys-page").textContent())!, /^page 2/);
      await page.locator("#keys-prev").click();
      await keysShown(users.slice(0, 10));

      // Partition the leader: another node is elected, and the page shows it.
      await page.locator(`tr[data-node-id="${first.id}"] button[data-action="partition"]`).click();
      await leaderShown(first.id, 20_000);
      await waitFor(
        (id) =>
          (globalThis as unknown as Dom).document.querySelector(
            `tr[data-node-id="${id}"] .flag`,
          )?.textContent === "partitioned",
        first.id,
      );

      // Heal it, then stop a node that does not serve the page, and restart it.
      await page.locator(`tr[data-node-id="${first.id}"] button[data-action="heal"]`).click();
      await waitFor(
        (id) =>
          (globalThis as unknown as Dom).document.querySelector(
            `tr[data-node-id="${id}"] .flag`,
          ) === null,
        first.id,
      );
      const victim = cluster.ids().find((id) => id !== 1)!;
      const pidBefore = cluster.pid(victim);
      await page.locator(`tr[data-node-id="${victim}"] button[data-action="stop"]`).click();
      await roleShown(victim, "down");
      assert.equal(
        await page.locator(`tr[data-node-id="${victim}"] button[data-action="stop"]`).count(),
        0,
      );
      await page.locator(`tr[data-node-id="${victim}"] button[data-action="restart"]`).click();
      await roleShown(victim, "!down", 30_000);
      assert.equal(cluster.running(victim), true);
      assert.notEqual(cluster.pid(victim), pidBefore);
      await cluster.waitForCatchUp(victim);

      // The icon: declared by the page, served beside it.
      assert.equal(await page.locator('link[rel="icon"]').getAttribute("href"), "favicon.ico");
      const icon = await fetch(`${cluster.url(1)}/favicon.ico`);
      assert.equal(icon.status, 200);
      assert.equal(icon.headers.get("content-type"), "image/svg+xml");
      assert.match(await icon.text(), /^<svg /);

      // Wide and narrow screens; at 420 px nothing overflows sideways, long keys included.
      const wideShot = join(shots, "cluster-1280.png");
      await page.screenshot({ path: wideShot, fullPage: true });
      await page.locator("#keys-prefix").fill("wide/");
      await page.locator("#keys-filter button").click();
      await keysShown([wide]);
      const fits = () =>
        page.evaluate(() => {
          const w = globalThis as unknown as Dom;
          const row = w.document.querySelector("#nodes tbody tr")!;
          return {
            scrollWidth: w.document.documentElement.scrollWidth,
            innerWidth: w.innerWidth,
            rowDisplay: w.getComputedStyle(row).display,
          };
        });
      assert.equal((await fits()).rowDisplay, "table-row");
      await page.setViewportSize({ width: 420, height: 900 });
      const narrow = await fits();
      assert.equal(narrow.innerWidth, 420);
      assert.ok(narrow.scrollWidth <= narrow.innerWidth, JSON.stringify(narrow));
      // One card per node.
      assert.equal(narrow.rowDisplay, "block");
      const narrowShot = join(shots, "cluster-420.png");
      await page.screenshot({ path: narrowShot, fullPage: true });
      for (const shot of [wideShot, narrowShot]) assert.ok(statSync(shot).size > 1000, shot);
      assert.deepEqual(problems, []);
      console.log(`  screenshots: ${shots}`);
    } finally {
      await browser.close();
      await cluster.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  },
);
