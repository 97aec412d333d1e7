import { CrewstateError } from "../errors.js";
import type { JsonValue } from "./store.js";

/** The deepest nesting of arrays and objects a payload may have. */
export const MAX_PAYLOAD_DEPTH = 512;

/** The largest single payload (an output, a call response, a run's inputs) a store accepts. */
export const MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;

const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;
// Control characters (C0, DEL, C1) and lone surrogates never belong in a name.
const BAD_NAME_CHAR = /[\u0000-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** A run ID is a safe identifier: it can name a file or a key without ever reaching outside the store. */
export function checkRunId(runId: unknown): string {
  if (
    typeof runId !== "string" ||
    !RUN_ID.test(runId) ||
    runId.includes("..") ||
    runId.endsWith(".") ||
    WINDOWS_DEVICE.test(runId)
  ) {
    const shown = typeof runId === "string" ? JSON.stringify(runId.slice(0, 80)) : typeof runId;
    throw new CrewstateError(
      "INVALID_RUN_ID",
      `run ID ${shown} is not a safe identifier: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit, without '..'`,
      { runId: typeof runId === "string" ? runId.slice(0, 80) : undefined },
    );
  }
  return runId;
}

export function checkTaskName(name: unknown): string {
  if (typeof name !== "string" || name.length === 0 || name.length > 200 || BAD_NAME_CHAR.test(name)) {
    const shown = typeof name === "string" ? JSON.stringify(name.slice(0, 80)) : typeof name;
    throw new CrewstateError(
      "INVALID_DEFINITION",
      `task name ${shown} is not valid: use 1-200 printable characters`,
      { task: typeof name === "string" ? name.slice(0, 80) : undefined },
    );
  }
  return name;
}

/**
 * JSON text for a value, refusing anything JSON would silently change (NaN → null, a Date → a
 * string, undefined → gone, BigInt → throw, a cycle → throw) with a `NOT_JSON` error naming where.
 */
export function encodeJson(value: unknown, what: string): string {
  assertJson(value, what, "$", new Set(), 0);
  const text = JSON.stringify(value);
  if (text.length > MAX_PAYLOAD_BYTES || Buffer.byteLength(text) > MAX_PAYLOAD_BYTES) {
    throw new CrewstateError(
      "PAYLOAD_TOO_LARGE",
      `${what} is ${Buffer.byteLength(text)} bytes as JSON; the limit is ${MAX_PAYLOAD_BYTES} bytes`,
    );
  }
  return text;
}

export function decodeJson<T = JsonValue>(text: string, where: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new CrewstateError("CORRUPT_STATE", `${where} holds invalid JSON: ${(error as Error).message}`, {}, { cause: error });
  }
}

/** Throws NOT_JSON naming the first value JSON would change, and the path to it. */
function assertJson(value: unknown, what: string, at: string, seen: Set<object>, depth: number): void {
  const path: Array<string | number> = [];
  const why = problemOf(value, path, seen, depth);
  if (why !== null) {
    const where = path.reverse().reduce<string>((text, step) => (typeof step === "number" ? `${text}[${step}]` : `${text}.${step}`), at);
    throw new CrewstateError("NOT_JSON", `${what} cannot be stored as JSON: ${why} at ${where}`);
  }
}

/** The walk behind `assertJson`: on a problem, `path` gets the steps to it, innermost first. */
function problemOf(value: unknown, path: Array<string | number>, seen: Set<object>, depth: number): string | null {
  switch (typeof value) {
    case "string":
    case "boolean":
      return null;
    case "number":
      return Number.isFinite(value) ? null : `${value}`;
    case "object": {
      if (value === null) return null;
      if (seen.has(value)) return "a circular reference";
      if (depth >= MAX_PAYLOAD_DEPTH) return `nesting deeper than ${MAX_PAYLOAD_DEPTH} levels`;
      if (Array.isArray(value)) {
        seen.add(value);
        for (let i = 0; i < value.length; i++) {
          const why = problemOf(value[i], path, seen, depth + 1);
          if (why !== null) {
            path.push(i);
            return why;
          }
        }
        seen.delete(value);
        return null;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return `a ${proto?.constructor?.name ?? "non-plain"} object`;
      seen.add(value);
      for (const key in value) {
        if (!Object.hasOwn(value, key)) continue;
        const why = problemOf((value as Record<string, unknown>)[key], path, seen, depth + 1);
        if (why !== null) {
          path.push(key);
          return why;
        }
      }
      seen.delete(value);
      return null;
    }
    default:
      return typeof value === "bigint" ? "a BigInt" : `${typeof value}`;
  }
}
