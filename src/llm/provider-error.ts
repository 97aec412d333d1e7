import { APICallError, RetryError } from "ai";
import { messageOf } from "../errors.js";

/**
 * A failure in one line. A provider's HTTP error says its status and what the server's body says
 * — the provider's own message is often just the status text ("Internal Server Error") when the
 * body is not in the shape it expects. Secrets are masked, as in every message.
 */
export function failureMessage(error: unknown): string {
  const call = RetryError.isInstance(error) && APICallError.isInstance(error.lastError) ? error.lastError : error;
  if (!APICallError.isInstance(call) || call.statusCode === undefined) return messageOf(error);
  const body = bodyMessage(call.responseBody);
  // Through messageOf too: a body may echo the API key.
  const said = body === undefined ? undefined : messageOf(body);
  const own = messageOf(call);
  const parts = [`HTTP ${call.statusCode}`];
  if (!said || !own.includes(said)) parts.push(own);
  if (said) parts.push(said);
  return parts.join(": ");
}

/** The message in an error body: `error.message`, `error`, `message` or `detail` of JSON, else the text itself. */
function bodyMessage(body: string | undefined): string | undefined {
  const text = body?.trim();
  if (!text) return undefined;
  let found: unknown = text;
  try {
    const json = JSON.parse(text) as Record<string, unknown>;
    const nested = json.error;
    found =
      (typeof nested === "object" && nested !== null ? (nested as Record<string, unknown>).message : nested) ??
      json.message ??
      json.detail ??
      text;
  } catch {
    // Not JSON: the text is the message.
  }
  const line = (typeof found === "string" ? found : JSON.stringify(found)).replace(/\s+/g, " ").trim();
  return line.length > 300 ? `${line.slice(0, 299)}…` : line;
}
