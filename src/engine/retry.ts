import { APICallError, RetryError } from "ai";
import { isCrewstateError } from "../errors.js";

/**
 * Whether a failed attempt is worth another: rate limits, server errors and network failures
 * are; a bad request, a bad definition or a refused commit are not.
 */
export function isRetryable(error: unknown): boolean {
  if (isCrewstateError(error)) return error.code === "OUTPUT_INVALID" || error.code === "MODEL_ERROR";
  if (APICallError.isInstance(error)) return error.isRetryable;
  if (RetryError.isInstance(error)) return isRetryable(error.lastError);
  const code = (error as { code?: unknown; cause?: { code?: unknown } })?.cause?.code ?? (error as { code?: unknown })?.code;
  if (typeof code === "string" && /^(ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|EAI_AGAIN|UND_ERR_\w+)$/.test(code)) return true;
  return error instanceof TypeError && /fetch failed/i.test(error.message);
}

/** Exponential backoff with full jitter: a random delay up to base × 2^(attempt-1), capped. */
export function backoffDelay(attempt: number, baseMs: number, maxMs = 30_000, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
