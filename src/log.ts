import { pino, type Logger } from "pino";

export type { Logger };

/**
 * crewstate's logger: JSON lines on stderr, level from `CREWSTATE_LOG_LEVEL` (default `warn`).
 * Every state change is logged at `info` with `runId` and `task`.
 */
export function defaultLogger(level = process.env.CREWSTATE_LOG_LEVEL ?? "warn"): Logger {
  return pino({ name: "crewstate", level }, pino.destination(2));
}
