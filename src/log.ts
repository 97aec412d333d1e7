import { pino, type ChildLoggerOptions, type Logger } from "pino";
import { redactSecrets } from "./redact.js";

export type { Logger };

/**
 * crewstate's logger: JSON lines on stderr at the level `CREWSTATE_LOG_LEVEL` gives — silent when
 * it is unset, so a library call writes nothing unless asked (the CLI picks its own level). Every
 * state change is logged at `info` with `runId` and `task`. A logged error goes through
 * `redactSecrets`, with every field a provider's error carries (its response body may echo the key).
 */
export function defaultLogger(level = process.env.CREWSTATE_LOG_LEVEL ?? "silent"): Logger {
  return pino({ name: "crewstate", level, serializers: { err: redactedError } }, pino.destination(2));
}

function redactedError(error: unknown): unknown {
  const serialized: unknown = error instanceof Error ? pino.stdSerializers.err(error) : error;
  try {
    const text = JSON.stringify(serialized);
    return text === undefined ? serialized : JSON.parse(redactSecrets(text));
  } catch {
    return redactSecrets(String(error));
  }
}

/**
 * The options of a run's child logger on `store`: with encryption at rest on (`store.hasher`), a
 * logged error shows its type and code only, since its message may quote an input, a prompt or an
 * output. Undefined (the logger as it is) when encryption is off.
 */
export function sealedLogOptions(store: { readonly hasher?: unknown }): ChildLoggerOptions | undefined {
  if (store.hasher === undefined) return undefined;
  return { serializers: { err: withheldError } };
}

function withheldError(error: unknown): unknown {
  if (typeof error !== "object" || error === null) return "(message withheld: encryption at rest is on)";
  const { name, code } = error as { name?: unknown; code?: unknown };
  return { type: typeof name === "string" ? name : "Error", ...(typeof code === "string" ? { code } : {}), message: "(withheld: encryption at rest is on)" };
}
