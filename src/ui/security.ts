import { timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { getCookie, setCookie } from "hono/cookie";

export const COOKIE = "crewstate_ui";

/** The headers every response carries: a CSP that allows no inline script, no framing, no sniffing. */
export const SECURITY_HEADERS: Record<string, string> = {
  "Content-Security-Policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cache-Control": "no-store",
};

/**
 * The dashboard's guard, for a server bound to `host:port` with `token`:
 * - a `Host` other than the bound address (or `localhost` for 127.0.0.1) is 403: DNS rebinding;
 * - `?token=` on `GET /` sets the HttpOnly, SameSite=Strict cookie and redirects to `/`;
 * - any other request without the token (cookie, or `Authorization: Bearer`) is 401;
 * - a request that is not GET or HEAD needs `Origin: http://<Host>`, else 403.
 * A refused request reaches no handler, so it changes nothing.
 */
export function guard(host: string, port: () => number, token: string): MiddlewareHandler {
  return async (c, next) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) c.header(name, value);
    const hostHeader = c.req.header("host") ?? "";
    const allowed = [`${host}:${port()}`, ...(host === "127.0.0.1" ? [`localhost:${port()}`] : [])];
    if (!allowed.includes(hostHeader)) return c.json({ error: `Host ${JSON.stringify(hostHeader)} is not this server's address` }, 403);
    const given = c.req.query("token");
    if (given !== undefined && c.req.method === "GET" && c.req.path === "/") {
      if (!same(given, token)) return c.json({ error: "wrong token" }, 401);
      setCookie(c, COOKIE, token, { httpOnly: true, sameSite: "Strict", path: "/" });
      return c.redirect("/", 303);
    }
    const bearer = /^Bearer (.+)$/.exec(c.req.header("authorization") ?? "")?.[1];
    const presented = getCookie(c, COOKIE) ?? bearer;
    if (presented === undefined || !same(presented, token)) return c.json({ error: "this dashboard needs the token from the URL crewstate ui printed" }, 401);
    if (c.req.method !== "GET" && c.req.method !== "HEAD" && c.req.header("origin") !== `http://${hostHeader}`) {
      return c.json({ error: "a change must come from this dashboard's own page (Origin)" }, 403);
    }
    await next();
    // Handlers that build their own Response (static files) get the headers too.
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) c.res.headers.set(name, value);
    return undefined;
  };
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
