import type { LanguageModelV3, LanguageModelV3CallOptions, LanguageModelV3GenerateResult } from "@ai-sdk/provider";
import { sha256 } from "../hash.js";

export const DEMO_LABEL = "[demo model: offline and deterministic, not a real LLM]";

/**
 * A deterministic offline model for the demo, docs and tests: the same prompt always gives the
 * same answer, labelled as a demo. It picks out a few facts (policy numbers, dates) from the
 * prompt so the example reads sensibly. `CREWSTATE_DEMO_DELAY_MS` makes each call take that long.
 */
export function createDemoModel(): LanguageModelV3 {
  return {
    specificationVersion: "v3",
    provider: "crewstate-demo",
    modelId: "demo",
    supportedUrls: {},
    async doGenerate(options) {
      await delay(Number(process.env.CREWSTATE_DEMO_DELAY_MS ?? 0), options.abortSignal);
      const prompt = promptText(options);
      const tool = options.tools?.find((t) => t.type === "function");
      // With a tool at hand, the demo looks something up first, as an agent would, then answers.
      if (tool && !options.prompt.some((message) => message.role === "tool")) {
        const input = JSON.stringify(valueFor(tool.inputSchema, prompt));
        return toolCallResult(tool.name, input, prompt);
      }
      const text =
        options.responseFormat?.type === "json"
          ? JSON.stringify(valueFor(options.responseFormat.schema, prompt))
          : answer(prompt);
      return result(text, prompt);
    },
    async doStream(options) {
      const { content, usage, finishReason } = await this.doGenerate(options);
      const text = content.map((part) => (part.type === "text" ? part.text : "")).join("");
      const stream = new ReadableStream({
        start(controller) {
          controller.enqueue({ type: "stream-start", warnings: [] });
          controller.enqueue({ type: "text-start", id: "0" });
          controller.enqueue({ type: "text-delta", id: "0", delta: text });
          controller.enqueue({ type: "text-end", id: "0" });
          controller.enqueue({ type: "finish", usage, finishReason });
          controller.close();
        },
      });
      return { stream };
    },
  };
}

function toolCallResult(toolName: string, input: string, prompt: string): LanguageModelV3GenerateResult {
  const usage = result(input, prompt).usage;
  return {
    content: [{ type: "tool-call", toolCallId: `demo-${sha256(prompt).slice(0, 8)}`, toolName, input }],
    finishReason: { unified: "tool-calls", raw: "tool_calls" },
    usage,
    warnings: [],
  };
}

function result(text: string, prompt: string): LanguageModelV3GenerateResult {
  const inputTokens = Math.ceil(prompt.length / 4);
  const outputTokens = Math.ceil(text.length / 4);
  return {
    content: [{ type: "text", text }],
    finishReason: { unified: "stop", raw: "stop" },
    usage: {
      inputTokens: { total: inputTokens, noCache: inputTokens, cacheRead: 0, cacheWrite: 0 },
      outputTokens: { total: outputTokens, text: outputTokens, reasoning: 0 },
    },
    warnings: [],
  };
}

function promptText(options: LanguageModelV3CallOptions): string {
  return options.prompt
    .map((message) =>
      typeof message.content === "string"
        ? message.content
        : message.content.map(partText).join("\n"),
    )
    .join("\n");
}

function partText(part: { type: string; text?: unknown; toolName?: unknown; output?: unknown }): string {
  if (typeof part.text === "string") return part.text;
  if (part.type !== "tool-result") return "";
  const output = part.output as { type?: string; value?: unknown } | undefined;
  const value = typeof output?.value === "string" ? output.value : JSON.stringify(output?.value ?? null);
  return `Tool ${String(part.toolName)} said: ${value}`;
}

function answer(prompt: string): string {
  const task = /Current Task:\s*([^\n]+)/.exec(prompt)?.[1]?.trim() ?? firstLine(prompt);
  const lines = [DEMO_LABEL, `Task: ${task}`];
  const policy = policyNumberIn(prompt);
  if (policy) lines.push(`- Policy number: ${policy}`);
  const dates = [...new Set(prompt.match(/\b\d{4}-\d{2}-\d{2}\b/g) ?? [])].slice(0, 3);
  if (dates.length) lines.push(`- Dates mentioned: ${dates.join(", ")}`);
  const looked = /Tool (\S+) said: ([^\n]+)/.exec(prompt);
  if (looked) lines.push(`- From ${looked[1]}: ${looked[2]!.slice(0, 120)}`);
  const facts = /Case notes?:\s*([^\n]+)/i.exec(prompt)?.[1];
  if (facts) lines.push(`- Summary: ${facts.slice(0, 160)}`);
  if (/next actions?/i.test(prompt)) {
    lines.push("- Next actions: verify coverage for the loss date; request photos and the repair estimate; assign an adjuster.");
  }
  lines.push(`Fingerprint: ${sha256(prompt).slice(0, 12)}`);
  return lines.join("\n");
}

function firstLine(text: string): string {
  return text.split("\n").find((line) => line.trim() !== "")?.trim().slice(0, 120) ?? "";
}

type JsonSchema = { type?: string | string[]; properties?: Record<string, JsonSchema>; items?: JsonSchema; enum?: unknown[]; required?: string[] };

function valueFor(schema: unknown, prompt: string, key = "value"): unknown {
  const s = (schema ?? {}) as JsonSchema;
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[0];
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== "null") : s.type;
  switch (type) {
    case "object":
      return Object.fromEntries(Object.entries(s.properties ?? {}).map(([name, sub]) => [name, valueFor(sub, prompt, name)]));
    case "array":
      return [valueFor(s.items, prompt, key)];
    case "number":
    case "integer":
      return parseInt(sha256(prompt + key).slice(0, 4), 16) % 100;
    case "boolean":
      return parseInt(sha256(prompt + key).slice(0, 2), 16) % 2 === 0;
    case "null":
      return null;
    default: {
      const policy = /policy/i.test(key) ? policyNumberIn(prompt) : undefined;
      return policy ?? `demo ${key} ${sha256(prompt + key).slice(0, 8)}`;
    }
  }
}

function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (!Number.isFinite(ms) || ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}

function policyNumberIn(prompt: string): string | undefined {
  return /policy\s*(?:number|no\.?|#)?\s*[:#]?\s*([A-Z]{2,}[A-Z0-9-]*\d[A-Z0-9-]*)/i.exec(prompt)?.[1];
}
