import { pino, type Logger } from "pino";
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
