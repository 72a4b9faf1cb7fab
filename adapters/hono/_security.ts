/**
 * The app's defences against hostile browsers and hostile networks: the
 * `Host` check (against DNS rebinding), the security headers (Hono's
 * `secureHeaders`; a content security policy on the page), and log lines
 * at a bounded rate for what clients can trigger at will.
 *
 * @module
 */

import { secureHeaders } from "hono/secure-headers";
import type { Logger } from "../../core/logger.ts";
import type { RaftMiddleware } from "./_hono_types.ts";
import { errorResponse } from "./http.ts";

/** The host names every app answers to: the loopback names. */
export const localHostNames: readonly string[] = ["localhost", "127.0.0.1", "::1"];

/** The host name of a URL or a `Host` value (no port, no brackets, lower case). */
export function hostNameOf(hostAndPort: string): string {
  const h = hostAndPort.trim().toLowerCase();
  if (h.startsWith("[")) return h.slice(1, h.indexOf("]") < 0 ? undefined : h.indexOf("]"));
  const colon = h.indexOf(":");
  // Two colons or more without brackets: an IPv6 address, without a port.
  return colon < 0 || h.indexOf(":", colon + 1) >= 0 ? h : h.slice(0, colon);
}

/** The authority (`host:port`) of a request URL, read without parsing the path. */
function authorityOf(url: string): string {
  const start = url.indexOf("//") + 2;
  const end = url.indexOf("/", start);
  return url.slice(start, end < 0 ? undefined : end);
}

/**
 * Answers 421 `host_not_allowed` to a request whose host (its URL's, which
 * servers build from the `Host` header) is not in `allowed`.
 */
export function allowedHostsGuard(allowed: readonly string[]): RaftMiddleware {
  const names = new Set(allowed.map(hostNameOf));
  return async function checkHost(c, next): Promise<Response | void> {
    const host = hostNameOf(c.req.header("host") ?? authorityOf(c.req.url));
    if (!names.has(host)) {
      return errorResponse(
        421,
        "host_not_allowed",
        `Cannot serve the request: this node does not answer to the host '${
          host.slice(0, 100)
        }' (see the app's 'allowedHosts')`,
      );
    }
    await next();
  };
}

/**
 * Hono's `secureHeaders` on every answer but WebSocket upgrades (whose
 * headers the runtime owns): `nosniff`, `X-Frame-Options`, no referrer,
 * same-origin resource and opener policies. (No HSTS: the app does not
 * know whether it is served over TLS.)
 */
export function securityHeaders(): RaftMiddleware {
  // Headers a route set itself (the page's stricter ones) are kept.
  const headers = secureHeaders({ strictTransportSecurity: false, overwrite: false });
  return async function setSecurityHeaders(c, next): Promise<Response | void> {
    if (c.req.header("upgrade") !== undefined) return await next();
    return await headers(c, next);
  };
}

async function sha256Source(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return `'sha256-${btoa(String.fromCharCode(...new Uint8Array(digest)))}'`;
}

/**
 * The content security policy of a self-contained page: only its own
 * inline script and style (by hash) run, it fetches only from its origin,
 * and no other site may frame it.
 */
export async function pagePolicy(html: string): Promise<RaftMiddleware> {
  const inline = (tag: string): string[] =>
    [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, "g"))].map((m) => m[1]!);
  const [scripts, styles] = await Promise.all([
    Promise.all(inline("script").map(sha256Source)),
    Promise.all(inline("style").map(sha256Source)),
  ]);
  return secureHeaders({
    strictTransportSecurity: false,
    xFrameOptions: "DENY",
    contentSecurityPolicy: {
      defaultSrc: ["'none'"],
      scriptSrc: scripts,
      styleSrc: styles,
      connectSrc: ["'self'"],
      imgSrc: ["'self'", "data:"],
      baseUri: ["'none'"],
      formAction: ["'none'"],
      frameAncestors: ["'none'"],
    },
  });
}

/**
 * A log line that clients can trigger at will, written at most once per
 * `intervalMs`; the next line written says how many were left out.
 */
export class RateLimitedLog {
  readonly #intervalMs: number;
  readonly #now: () => number;
  #last = -Infinity;
  #suppressed = 0;

  /**
   * Creates the limiter.
   *
   * @param now The clock.
   * @param intervalMs The shortest time between two lines.
   */
  constructor(now: () => number, intervalMs = 1000) {
    this.#now = now;
    this.#intervalMs = intervalMs;
  }

  /**
   * Writes `line` at warning level, unless a line was written within the interval.
   *
   * @param logger Where to write.
   * @param line The line, without a stack trace.
   */
  warn(logger: Logger, line: string): void {
    const t = this.#now();
    if (t - this.#last < this.#intervalMs) {
      this.#suppressed++;
      return;
    }
    const more = this.#suppressed > 0 ? ` (${this.#suppressed} more since the last line)` : "";
    this.#last = t;
    this.#suppressed = 0;
    logger.warning(`${line}${more}`);
  }
}
