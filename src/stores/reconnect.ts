import { CrewstateError, messageOf } from "../errors.js";

/**
 * The one rule for a server store's lost connection, shared by the PostgreSQL and Redis stores:
 * an operation that fails because the connection went away is tried once more, after the
 * connection is back, when the operation says a second try is safe (a read, or a write made
 * idempotent by its op ID); every other failure keeps its meaning, and a connection that does not
 * come back is `STORE_UNAVAILABLE`, naming the store.
 */
export interface Connection {
  /** The store, as people see it (its URL without password), for error messages. */
  readonly location: string;
  /** The server's name in messages: "PostgreSQL", "Redis". */
  readonly server: string;
  /** Whether the store was closed: nothing is tried, nothing retried. */
  readonly closed: boolean;
  /** Whether `error` says the connection failed (and not the operation). */
  isConnectionError(error: unknown): boolean;
  /** Waits until the connection is usable again; false when it will not be. */
  reconnected(): Promise<boolean>;
  /** The error an operation's own (not a connection's) failure becomes. */
  mapError(error: unknown): unknown;
  /** Runs one try; a server store may race it against its connection closing. Default: `fn()`. */
  send?<T>(fn: () => Promise<T>): Promise<T>;
}

/** Runs `fn` on `connection`, once more after a lost connection when `retry` says that is safe. */
export async function withReconnect<T>(connection: Connection, fn: () => Promise<T>, retry: boolean): Promise<T> {
  if (connection.closed) throw unavailable(connection, new Error("the store is closed"));
  const send = () => (connection.send ? connection.send(fn) : fn());
  try {
    return await send();
  } catch (error) {
    if (!connection.isConnectionError(error)) throw connection.mapError(error);
    if (!retry || connection.closed || !(await connection.reconnected())) throw unavailable(connection, error);
    try {
      return await send();
    } catch (again) {
      throw connection.isConnectionError(again) ? unavailable(connection, again) : connection.mapError(again);
    }
  }
}

/** The error of a store whose server cannot be reached. */
export function unavailable(connection: Pick<Connection, "location" | "server">, error: unknown): CrewstateError {
  if (error instanceof CrewstateError) return error;
  return new CrewstateError(
    "STORE_UNAVAILABLE",
    `${connection.server} store ${connection.location} is unavailable: ${oneLine(error)}; check that the server is running and the URL is right`,
    { store: connection.location },
    { cause: error },
  );
}

/** A driver error on one line: the first of an AggregateError's, else its message, else its code. */
export function oneLine(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return oneLine(error.errors[0]);
  const text = messageOf(error);
  return text.length > 0 ? text : String((error as { code?: unknown } | undefined)?.code ?? "unknown error");
}
