/**
 * The real servers the PostgreSQL and Redis tests need, and the tools to mistreat them.
 *
 * `CREWSTATE_TEST_PG_URL` / `CREWSTATE_TEST_REDIS_URL` name them (defaults: the services on this
 * machine). A test file awaits `postgresService()` / `redisService()` at load time:
 * - with `CI=true` an unreachable server throws, so the file — and the run — fails; CI never
 *   silently skips the stores it exists to check;
 * - otherwise the file is skipped with a printed reason (`describe.skipIf(!pg.available)`).
 *
 * `freshName` makes the schema / key prefix that isolates one test, and `startTcpProxy` stands
 * between a store and its server so a test can cut a reply in flight or take the "server" down
 * and bring it back without touching the real one.
 */
import { randomBytes } from "node:crypto";
import net from "node:net";
import { Redis } from "ioredis";
import pg from "pg";
import { redactUrl } from "../src/redact.js";

export const PG_URL = process.env.CREWSTATE_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
export const REDIS_URL = process.env.CREWSTATE_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

export interface Service {
  name: string;
  url: string;
  available: boolean;
  /** Why it is not available. */
  reason?: string;
}

const probes = new Map<string, Promise<Service>>();

export function postgresService(): Promise<Service> {
  return service("PostgreSQL", PG_URL, "CREWSTATE_TEST_PG_URL", async () => {
    const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3_000 });
    client.on("error", () => undefined);
    try {
      await client.connect();
      await client.query("SELECT 1");
    } finally {
      await client.end().catch(() => undefined);
    }
  });
}

export function redisService(): Promise<Service> {
  return service("Redis", REDIS_URL, "CREWSTATE_TEST_REDIS_URL", async () => {
    const client = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 3_000, maxRetriesPerRequest: 0, retryStrategy: () => null });
    let cause: Error | undefined;
    client.on("error", (error: Error) => (cause = error));
    try {
      await client.connect();
      await client.ping();
    } catch (error) {
      throw cause ?? error;
    } finally {
      client.disconnect();
    }
  });
}

function service(name: string, url: string, variable: string, probe: () => Promise<void>): Promise<Service> {
  let pending = probes.get(url);
  if (!pending) {
    pending = probe().then(
      (): Service => ({ name, url, available: true }),
      (error: unknown): Service => ({ name, url, available: false, reason: describe(error) }),
    );
    probes.set(url, pending);
  }
  return pending.then((found) => {
    if (found.available) return found;
    const message = `${name} at ${redactUrl(url)} is unreachable (${found.reason}); start it or set ${variable}`;
    if (process.env.CI === "true") throw new Error(`${message}. CI=true: the ${name} tests must run, so this fails the run.`);
    console.warn(`skipping the ${name} tests: ${message}`);
    return found;
  });
}

function describe(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return describe(error.errors[0]);
  if (error instanceof Error) return error.message || String((error as { code?: unknown }).code ?? error.name);
  return String(error);
}

/** A name no other test (or test process) uses: a PostgreSQL schema, a Redis key prefix. */
export function freshName(kind: string): string {
  return `cs_${kind}_${process.pid}_${randomBytes(4).toString("hex")}`;
}

/** `url` with one query parameter set. */
export function withParam(url: string, key: string, value: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set(key, value);
  return parsed.toString();
}

/** A URL whose host and port are replaced (to go through a proxy). */
export function viaPort(url: string, port: number): string {
  const parsed = new URL(url);
  parsed.hostname = "127.0.0.1";
  parsed.port = String(port);
  return parsed.toString();
}

export interface TcpProxy {
  port: number;
  /** Connections currently open through the proxy. */
  readonly connections: number;
  /**
   * The next bytes the server sends back are dropped and every connection is cut: the request
   * reached the server (and was applied) but the client never hears the answer.
   */
  cutNextReply(): Promise<void>;
  /** Closes every connection and refuses new ones: the server is "down". */
  stop(): Promise<void>;
  /** Listens again on the same port: the server is "back". */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** A TCP proxy to `url`'s host and port, on an ephemeral local port. */
export async function startTcpProxy(url: string): Promise<TcpProxy> {
  const target = new URL(url);
  const targetHost = target.hostname;
  const targetPort = Number(target.port || (target.protocol.startsWith("redis") ? 6379 : 5432));
  const pairs = new Set<[net.Socket, net.Socket]>();
  let armed: (() => void) | undefined;

  const cutAll = () => {
    for (const [a, b] of pairs) {
      a.destroy();
      b.destroy();
    }
    pairs.clear();
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, targetHost);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    client.on("data", (chunk) => upstream.write(chunk));
    upstream.on("data", (chunk) => {
      if (armed) {
        const done = armed;
        armed = undefined;
        cutAll();
        done();
        return;
      }
      client.write(chunk);
    });
  });
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        port = (server.address() as net.AddressInfo).port;
        resolve();
      });
    });
  await listen();
  return {
    get port() {
      return port;
    },
    get connections() {
      return pairs.size;
    },
    cutNextReply: () => new Promise<void>((resolve) => (armed = resolve)),
    stop: async () => {
      cutAll();
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    start: listen,
    close: async () => {
      cutAll();
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
