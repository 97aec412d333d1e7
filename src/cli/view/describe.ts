import type { LanguageModelV3Prompt } from "@ai-sdk/provider";
import type { CallEndEvent, CallStartEvent } from "../../engine/observer.js";
import type { JsonValue, TokenUsage } from "../../stores/store.js";

/** Words for what a run's view shows: pure, shared by the live view and the plain lines. */

/** `0.4s`, `12.3s`, `2m05s`. */
export function duration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, "0")}s`;
}

export function tokens(usage: TokenUsage): string {
  return `${usage.inputTokens + usage.outputTokens} tokens (${usage.inputTokens} in, ${usage.outputTokens} out)`;
}

/** Text on one line, whitespace runs folded, cut to `max` characters. */
export function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** A JSON value as short text: a tool's arguments or result at a glance. */
export function shortJson(value: JsonValue | null, max = 60): string {
  return oneLine(typeof value === "string" ? value : (JSON.stringify(value) ?? "null"), max);
}

/** `model openai:gpt-4o-mini`, `tool lookup {"id":"P-1"}`. */
export function callName(call: CallStartEvent): string {
  return call.kind === "tool" ? `tool ${call.name} ${shortJson(call.input)}` : `model ${call.name}`;
}

/** How a call ended, after its name. */
export function callOutcome(call: CallEndEvent): string {
  if (call.error !== undefined) return `failed after ${duration(call.durationMs)}: ${oneLine(call.error, 200)}`;
  if (call.replayed) return `replayed from the journal${call.usage ? ` · ${tokens(call.usage)} saved` : ""}`;
  return `${call.kind === "model" ? "answered" : "returned"} in ${duration(call.durationMs)}${call.usage ? ` · ${tokens(call.usage)}` : ""}`;
}

/** The text of a request's last message: the prompt, or the tool results, the model answers. */
export function lastMessage(messages: LanguageModelV3Prompt): string {
  const last = messages[messages.length - 1];
  if (!last) return "";
  if (typeof last.content === "string") return last.content;
  return last.content
    .map((part) => {
      if (part.type === "text") return part.text;
      if (part.type !== "tool-result") return "";
      const output = part.output.type === "json" || part.output.type === "text" ? part.output.value : part.output;
      return `${part.toolName}: ${typeof output === "string" ? output : JSON.stringify(output)}`;
    })
    .join("\n");
}
