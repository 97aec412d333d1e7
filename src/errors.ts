import { redactSecrets } from "./redact.js";

/**
 * Every error crewstate raises on purpose is a `CrewstateError` with a `code` from this closed
 * list. Guards compare `code` (see `isCrewstateError`), never `instanceof`, so errors stay
 * recognisable across duplicated copies of the package.
 */
export type ErrorCode =
  | "INVALID_DEFINITION" // an Agent, Task or Crew that cannot run as written
  | "MISSING_INPUT" // a {placeholder} with no value in the inputs
  | "INVALID_INPUT" // an input that is malformed (bad key=value, unreadable @file…)
  | "INVALID_RUN_ID" // a run ID that is not a safe identifier
  | "RUN_NOT_FOUND"
  | "TASK_NOT_FOUND"
  | "RUN_MISMATCH" // a stored run that belongs to another crew
  | "RUN_EXISTS" // importing over an existing run without --overwrite
  | "RUN_BUSY" // deleting (pruning) a run that is running, paused, or holds a live lease
  | "UNKNOWN_STORE" // a store URL with an unknown scheme or a malformed body
  | "STORE_UNAVAILABLE" // the store cannot be reached or opened
  | "STORE_NOT_FOUND" // a file store that does not exist, opened only to read
  | "STORE_LOCKED" // another process holds the store
  | "READ_ONLY" // a write to a store opened read-only
  | "CORRUPT_STATE" // stored bytes that do not parse or do not check out
  | "UNSUPPORTED_SCHEMA_VERSION"
  | "PAYLOAD_TOO_LARGE"
  | "KEY_REQUIRED" // a sealed value (encryption at rest) read with no encryption key
  | "KEY_MISMATCH" // a sealed value whose key is not among those given, or that does not open with it
  | "NOT_JSON" // a value that JSON cannot carry exactly (BigInt, NaN, a cycle, a Date…)
  | "FENCED_OUT" // a commit or heartbeat carrying a stale fencing token
  | "LEASE_HELD" // the task is claimed by another worker
  | "UNKNOWN_MODEL"
  | "MISSING_API_KEY"
  | "MISSING_PACKAGE" // an optional package a model spec needs is not installed
  | "MODEL_ERROR" // the model provider failed
  | "TOOL_ERROR"
  | "OUTPUT_INVALID" // structured output that failed its schema
  | "GUARDRAIL_REFUSED" // a task's guardrail refused every answer it was allowed to see
  | "HOOK_FAILED" // a condition, guardrail or callback threw, or returned something unusable
  | "OUTPUT_FILE_FAILED" // a task's output file could not be written
  | "TASK_FAILED"
  | "BUDGET_EXCEEDED"
  | "REPLAY_MISS" // a cassette replay met a call it has no answer for
  | "INVALID_MODULE" // a module without a Crew or Flow export
  | "STATE_INVALID" // a flow's state (its inputs, a step's changes, a stored state) that fails the state schema
  | "STEP_FAILED" // a flow step threw, or returned something unusable
  | "FLOW_LOOP"; // a flow ran more step executions than its maxSteps

export interface ErrorContext {
  readonly runId?: string;
  readonly task?: string;
  readonly store?: string;
  readonly path?: string;
  readonly [key: string]: unknown;
}

export class CrewstateError extends Error {
  readonly code: ErrorCode;
  readonly context: ErrorContext;

  constructor(code: ErrorCode, message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CrewstateError";
    this.code = code;
    this.context = Object.freeze({ ...context });
  }
}

export class FencedOutError extends CrewstateError {
  constructor(message: string, context: ErrorContext = {}) {
    super("FENCED_OUT", message, context);
    this.name = "FencedOutError";
  }
}

export function isCrewstateError(error: unknown, code?: ErrorCode): error is CrewstateError {
  if (typeof error !== "object" || error === null) return false;
  const candidate = error as { code?: unknown; context?: unknown; name?: unknown };
  if (typeof candidate.code !== "string" || typeof candidate.context !== "object") return false;
  return code === undefined || candidate.code === code;
}

/**
 * A user-given name (run ID, task, path, module, URL…) as it goes into a message: JSON-quoted, so
 * a newline or control character in it shows escaped and the message stays on one line.
 */
export function quote(name: unknown): string {
  return JSON.stringify(String(name)).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/**
 * The message of any thrown value, on one line: line breaks become spaces, other control
 * characters are escaped (`\u001b`), and every known secret is masked (see src/redact.ts).
 */
export function messageOf(error: unknown): string {
  const text = redactSecrets(error instanceof Error ? error.message : String(error));
  return text
    .replace(/\s*[\n\r\u2028\u2029]\s*/g, " ")
    .replace(/\t/g, " ")
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
    .trim();
}
