import type { Redis } from "ioredis";
import { CrewstateError } from "../../errors.js";
import { oneLine, withReconnect, type Connection } from "../reconnect.js";

/** How long a retry waits for the connection to come back. */
const RECONNECT_WAIT_MS = 2_000;

/**
 * The Redis store's connection as the shared lost-connection rule (`../reconnect.ts`) sees it.
 *
 * Retrying is that rule's decision alone: ioredis neither queues commands while disconnected nor
 * resends the ones whose reply a dropped connection swallowed (so nothing is applied behind the
 * caller's back after it was told the store is unavailable). A command in flight when the
 * connection closes fails at once (`send`); the retry waits for ioredis to reconnect, up to
 * `RECONNECT_WAIT_MS`, so an outage surfaces as `STORE_UNAVAILABLE` within seconds, never a hang.
 */
export class RedisConnection implements Connection {
  readonly server = "Redis";
  closed = false;
  /** Rejecters of the commands awaiting an answer, failed when the connection closes. */
  private readonly inflight = new Set<(error: Error) => void>();
  /** Why the connection last failed, until it is ready again. */
  private reason: Error | undefined;

  constructor(
    readonly redis: Redis,
    readonly location: string,
  ) {
    // Connection errors reach the caller through the command that failed (keeping the socket's
    // own reason, such as ECONNREFUSED); an unhandled 'error' event would only be printed.
    redis.on("error", (error: Error) => (this.reason = error));
    redis.on("ready", () => (this.reason = undefined));
    // ioredis forgets (without settling) the commands a closed connection left unanswered.
    redis.on("close", () => this.abandonInflight());
  }

  /** Runs `fn`, once more after a lost connection when `retry` says that is safe. */
  run<T>(fn: () => Promise<T>, retry: boolean): Promise<T> {
    return withReconnect(this, fn, retry);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  /** `fn`'s answer, or a connection error (the socket's own reason when known) as soon as the connection closes under it. */
  send<T>(fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.inflight.add(reject);
      Promise.resolve()
        .then(fn)
        .then(resolve, (error: unknown) => reject(this.isConnectionError(error) && this.reason && this.isConnectionError(this.reason) ? this.reason : error))
        .finally(() => this.inflight.delete(reject));
    });
  }

  private abandonInflight(): void {
    const error = this.reason ?? new Error("Connection is closed.");
    for (const reject of this.inflight) reject(error);
    this.inflight.clear();
  }

  /** Whether the connection is (back) up within `RECONNECT_WAIT_MS`. */
  reconnected(): Promise<boolean> {
    // "ready" with a socket that can no longer write: the close is on its way; wait for the next ready.
    if (this.redis.status === "ready" && this.redis.stream?.writable) return Promise.resolve(true);
    if (this.redis.status === "end") return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const done = (up: boolean) => {
        clearTimeout(timer);
        this.redis.off("ready", onReady);
        resolve(up);
      };
      const onReady = () => done(true);
      const timer = setTimeout(() => done(false), RECONNECT_WAIT_MS);
      this.redis.on("ready", onReady);
    });
  }

  mapError(error: unknown): unknown {
    if (error instanceof CrewstateError) return error;
    return new CrewstateError("STORE_UNAVAILABLE", `Redis store ${this.location} failed: ${oneLine(error)}`, { store: this.location }, { cause: error });
  }

  /** Whether `error` means the connection (not the command) failed. */
  isConnectionError(error: unknown): boolean {
    if (error instanceof CrewstateError) return error.code === "STORE_UNAVAILABLE";
    if (!(error instanceof Error)) return false;
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string" && CONNECTION_CODES.has(code)) return true;
    if (error instanceof AggregateError) return error.errors.some((e) => this.isConnectionError(e));
    return error.name === "MaxRetriesPerRequestError" || CONNECTION_MESSAGE.test(error.message);
  }
}

const CONNECTION_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ECONNABORTED"]);
const CONNECTION_MESSAGE =
  /connection is closed|max retries per request|stream isn't writeable|command timed out|connect ETIMEDOUT|^LOADING|^BUSY|^TRYAGAIN|^MASTERDOWN|^NOAUTH|^WRONGPASS|the store is closed/i;
