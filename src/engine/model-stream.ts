import type { LanguageModelV3Content, LanguageModelV3GenerateResult, LanguageModelV3StreamPart } from "@ai-sdk/provider";
import { simulateReadableStream } from "ai";

/**
 * A streamed model answer and a generated one are the same answer: `StreamAssembler` folds the
 * parts of a stream into the result `doGenerate` would have given, and `streamOf` plays a result
 * back as a stream. So the journal stores one shape, and an answer recorded by a streaming run
 * replays in a run that does not stream, and the other way round.
 */
export class StreamAssembler {
  private readonly content: LanguageModelV3Content[] = [];
  /** Text and reasoning parts still receiving deltas, by their stream ID. */
  private readonly open = new Map<string, { type: "text" | "reasoning"; text: string }>();
  private warnings: LanguageModelV3GenerateResult["warnings"] = [];
  private response: LanguageModelV3GenerateResult["response"];
  private finish: Extract<LanguageModelV3StreamPart, { type: "finish" }> | undefined;

  /** Takes the next part of the stream. */
  add(part: LanguageModelV3StreamPart): void {
    switch (part.type) {
      case "stream-start":
        this.warnings = part.warnings;
        return;
      case "response-metadata": {
        const { type: _type, ...meta } = part;
        this.response = meta;
        return;
      }
      case "text-start":
      case "reasoning-start": {
        const kind = part.type === "text-start" ? "text" : "reasoning";
        const piece = { type: kind, text: "", ...(part.providerMetadata ? { providerMetadata: part.providerMetadata } : {}) } as { type: typeof kind; text: string };
        this.open.set(`${kind}:${part.id}`, piece);
        this.content.push(piece);
        return;
      }
      case "text-delta":
      case "reasoning-delta": {
        const piece = this.open.get(`${part.type === "text-delta" ? "text" : "reasoning"}:${part.id}`);
        if (piece) piece.text += part.delta;
        return;
      }
      case "text-end":
      case "reasoning-end":
        this.open.delete(`${part.type === "text-end" ? "text" : "reasoning"}:${part.id}`);
        return;
      case "finish":
        this.finish = part;
        return;
      case "tool-call":
      case "tool-result":
      case "tool-approval-request":
      case "file":
      case "source":
        this.content.push(part);
        return;
      default:
        // Tool-input deltas are repeated whole by their tool-call part; raw chunks and errors are not answers.
        return;
    }
  }

  /** Whether the stream reached its finish part: only then is the answer whole. */
  get finished(): boolean {
    return this.finish !== undefined;
  }

  /** The answer as `doGenerate` would have returned it. */
  result(): LanguageModelV3GenerateResult {
    if (!this.finish) throw new Error("the model's stream ended before its finish part");
    return {
      content: this.content,
      finishReason: this.finish.finishReason,
      usage: this.finish.usage,
      ...(this.finish.providerMetadata ? { providerMetadata: this.finish.providerMetadata } : {}),
      ...(this.response ? { response: this.response } : {}),
      warnings: this.warnings,
    };
  }
}

/** A recorded answer played back as the stream a model would have sent, all at once. */
export function streamOf(result: LanguageModelV3GenerateResult): ReadableStream<LanguageModelV3StreamPart> {
  const parts: LanguageModelV3StreamPart[] = [{ type: "stream-start", warnings: result.warnings }];
  if (result.response) {
    const { id, modelId, timestamp } = result.response;
    parts.push({ type: "response-metadata", id, modelId, timestamp });
  }
  result.content.forEach((part, i) => {
    const id = String(i);
    if (part.type === "text" || part.type === "reasoning") {
      const meta = part.providerMetadata ? { providerMetadata: part.providerMetadata } : {};
      if (part.type === "text") parts.push({ type: "text-start", id, ...meta }, { type: "text-delta", id, delta: part.text }, { type: "text-end", id });
      else parts.push({ type: "reasoning-start", id, ...meta }, { type: "reasoning-delta", id, delta: part.text }, { type: "reasoning-end", id });
    } else {
      parts.push(part);
    }
  });
  parts.push({
    type: "finish",
    usage: result.usage,
    finishReason: result.finishReason,
    ...(result.providerMetadata ? { providerMetadata: result.providerMetadata } : {}),
  });
  return simulateReadableStream({ chunks: parts, initialDelayInMs: null, chunkDelayInMs: null });
}
