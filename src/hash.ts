import { hash } from "node:crypto";

/** Node's one-shot hash: no Hash object per call, which a plan of 1,000 tasks makes thousands of. */
export function sha256(text: string): string {
  return hash("sha256", text, "hex");
}

/**
 * JSON with object keys sorted at every depth, so equal values always give equal text.
 * `undefined` properties are dropped, as JSON.stringify does.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== "object") return value;
  if (value instanceof Date) return value.toISOString();
  // No prototype: a "__proto__" key is data like any other.
  const sorted: Record<string, unknown> = Object.create(null);
  for (const key of Object.keys(value).sort()) {
    const item = (value as Record<string, unknown>)[key];
    if (item !== undefined) sorted[key] = sortKeys(item);
  }
  return sorted;
}

export function hashOf(value: unknown): string {
  return sha256(canonicalJson(value));
}

/** The hash a task record keeps of its output: what stores check on load and what dependents' input hashes fold in. */
export function outputHashOf(output: string, structured: unknown): string {
  return hashOf({ output, structured });
}
