/**
 * Admin authentication: the routes that change the cluster require the
 * cluster secret as `Authorization: Bearer <secret>`, checked by Hono's
 * `bearerAuth` middleware (which compares in time independent of where
 * the tokens differ). Answers keep the adapter's JSON error shape: no
 * credentials 401, wrong credentials 403, no secret configured 403.
 *
 * @module
 */

import { bearerAuth } from "hono/bearer-auth";
import type { HonoContext, RaftMiddleware } from "./_hono_types.ts";
import { errorResponse } from "./http.ts";

/** The characters a Bearer token may hold (RFC 6750's `b64token`). */
const bearerToken = /^[A-Za-z0-9._~+/-]+=*$/;

function unauthorized(): Response {
  return errorResponse(
    401,
    "unauthorized",
    "Cannot run an admin operation: send the cluster secret as 'Authorization: Bearer <secret>'",
    {},
    { "www-authenticate": 'Bearer realm="raft"' },
  );
}

function forbidden(): Response {
  return errorResponse(403, "forbidden", "Cannot run an admin operation: wrong secret");
}

/** Whether the request presents Bearer credentials at all (malformed ones included). */
function presentsBearer(c: HonoContext): boolean {
  return /^Bearer\s/i.test(c.req.header("authorization") ?? "");
}

/**
 * The middleware in front of the admin routes.
 *
 * @param secret The admin secret, or `undefined` to refuse every admin request.
 * @returns The middleware.
 * @throws {RangeError} When the secret is not a valid Bearer token.
 */
export function adminAuth(secret: string | undefined): RaftMiddleware {
  if (secret === undefined) {
    return function adminDisabled(): Promise<Response> {
      return Promise.resolve(errorResponse(
        403,
        "admin_disabled",
        "Cannot run an admin operation: no admin secret is configured on this node",
      ));
    };
  }
  if (!bearerToken.test(secret)) {
    throw new RangeError(
      "Cannot create the Raft app as 'adminSecret' must be a Bearer token (letters, digits and -._~+/, then optional '=' padding)",
    );
  }
  const check = bearerAuth({
    token: secret,
    noAuthenticationHeader: { message: unauthorized },
    // A token with characters no secret can hold is a wrong secret.
    invalidAuthenticationHeader: {
      message: (c) => presentsBearer(c) ? forbidden() : unauthorized(),
    },
    invalidToken: { message: forbidden },
  });
  return async function requireAdmin(c, next): Promise<void> {
    await check(c, async () => {
      authenticated.add(c.req.raw);
      await next();
    });
  };
}

const authenticated = new WeakSet<Request>();

/**
 * Whether the request passed the admin check (it may then learn internal
 * details, such as the fatal error that closed the node).
 */
export function isAdminRequest(c: HonoContext): boolean {
  return authenticated.has(c.req.raw);
}
