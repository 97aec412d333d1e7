import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { serve, type ServerType } from "@hono/node-server";
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { CrewstateError, quote } from "../errors.js";
import { redactUrl } from "../redact.js";
import { openStore, storeUrlFrom } from "../stores/open.js";
import type { Store } from "../stores/store.js";
import { apiRoutes } from "./api.js";
import { ChangeFeed } from "./changes.js";
import { guard } from "./security.js";

export interface UiOptions {
  /** A store, or its URL; default `CREWSTATE_STORE` or `sqlite:.crewstate/state.db`. */
  store?: Store | string;
  /** 0 (the default): any free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** How often the store is looked at for changes to push to open pages, in ms. Default 500. */
  pollMs?: number;
}

export interface RunningUi {
  /** The URL to open: with `?token=`. */
  url: string;
  /** `http://host:port`, what the page's requests carry as `Origin`. */
  origin: string;
  token: string;
  close(): Promise<void>;
}

const STATIC_DIR = fileURLToPath(new URL("../../src/ui/static/", import.meta.url));
const CONTENT_TYPES: Record<string, string> = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml" };
const { version } = createRequire(import.meta.url)("../../package.json") as { version: string };

/**
 * Serves the dashboard over a store (see docs/ui.md): the static page, the JSON API and a stream
 * of changes, all behind the token, Host and Origin checks of `guard`.
 */
export async function startUi(options: UiOptions = {}): Promise<RunningUi> {
  const host = options.host ?? "127.0.0.1";
  const spec = options.store ?? storeUrlFrom();
  // A dashboard shows a store that exists: it does not create one.
  const store = typeof spec === "string" ? await openStore(spec, { mustExist: true }) : spec;
  const location = typeof spec === "string" ? redactUrl(spec) : store.location;
  const token = randomBytes(24).toString("base64url");
  const feed = new ChangeFeed(store, options.pollMs);
  let port = options.port ?? 0;

  const app = new Hono();
  app.use("*", guard(host, () => port, token));
  app.route("/api", apiRoutes(store, location, version, feed));
  app.get("/api/stream", (c) => {
    const only = c.req.query("run");
    return streamSSE(c, async (stream) => {
      const unsubscribe = feed.subscribe((change) => {
        if (only === undefined || change.runId === only) void stream.writeSSE({ event: "change", data: JSON.stringify(change) });
      });
      stream.onAbort(unsubscribe);
      while (!stream.aborted) {
        await stream.sleep(15_000);
        if (!stream.aborted) await stream.write(": ping\n\n");
      }
      unsubscribe();
    });
  });
  app.get("/", () => staticFile("index.html"));
  app.get("/static/vendor/markdown-it.min.js", () => fileResponse(markdownItBundle()));
  app.get("/static/:file{[a-z0-9-]+\\.(js|css|png|svg)}", (c) => staticFile(c.req.param("file")));
  app.notFound((c) => c.json({ error: `no such page: ${c.req.path}` }, 404));

  let server: ServerType;
  try {
    server = await listen(app, host, port);
  } catch (error) {
    if (typeof spec === "string") await store.close();
    throw error;
  }
  port = (server.address() as AddressInfo).port;
  const origin = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  return {
    url: `${origin}/?token=${token}`,
    origin,
    token,
    async close() {
      feed.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      if (typeof spec === "string") await store.close();
    },
  };
}

function listen(app: Hono, host: string, port: number): Promise<ServerType> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname: host, port }, () => resolve(server));
    server.once("error", (error: NodeJS.ErrnoException) => {
      const where = `${host}:${port}`;
      if (error.code === "EADDRINUSE") reject(new CrewstateError("INVALID_INPUT", `port ${port} on ${host} is already in use; pick another with --port (0: any free port)`, { port }));
      else if (error.code === "EADDRNOTAVAIL" || error.code === "ENOTFOUND") reject(new CrewstateError("INVALID_INPUT", `cannot listen on ${quote(where)}: no such address on this machine`, { host }));
      else if (error.code === "EACCES") reject(new CrewstateError("INVALID_INPUT", `not allowed to listen on port ${port} (ports below 1024 need privileges)`, { port }));
      else reject(error);
    });
  });
}

async function staticFile(name: string): Promise<Response> {
  return fileResponse(path.join(STATIC_DIR, name));
}

async function fileResponse(file: string): Promise<Response> {
  try {
    const body = await readFile(file);
    return new Response(body, { headers: { "Content-Type": CONTENT_TYPES[path.extname(file)] ?? "application/octet-stream" } });
  } catch {
    return Response.json({ error: `no such file: ${path.basename(file)}` }, { status: 404 });
  }
}

function markdownItBundle(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve("markdown-it/package.json")), "dist", "markdown-it.min.js");
}
