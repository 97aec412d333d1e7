import { pino, type Logger } from "pino";

export type { Logger };

/**
 * crewstate's logger: JSON lines on stderr at the level `CREWSTATE_LOG_LEVEL` gives — silent when
 * it is unset, so a library call writes nothing unless asked (the CLI picks its own level). Every
 * state change is logged at `info` with `runId` and `task`.
 */
export function defaultLogger(level = process.env.CREWSTATE_LOG_LEVEL ?? "silent"): Logger {
  return pino({ name: "crewstate", level }, pino.destination(2));
}
