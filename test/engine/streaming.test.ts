import type { LanguageModelV3CallOptions, LanguageModelV3GenerateResult, LanguageModelV3StreamPart } from "@ai-sdk/provider";
import { APICallError, simulateReadableStream, tool } from "ai";
import { MockLanguageModelV3 } from "ai/test";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { Agent, Crew, MemoryStore, Task, type TokenEvent } from "../../src/index.js";

const usage = { inputTokens: { total: 10, noCache: 10, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 5, text: 5, reasoning: 0 } };
const stop = { unified: "stop", raw: "stop" } as const;
const ANSWER = ["The claim ", "is ", "covered ", "up to 2500."];

const toolTurn = (options: LanguageModelV3CallOptions) => !options.prompt.some((m) => m.role === "tool");

/** Asks `lookup` once, then answers ANSWER, streamed in its pieces (or generated whole); counts each way. */
function lookupModel(counts = { generate: 0, stream: 0 }) {
  const model = new MockLanguageModelV3({
    doGenerate: async (options): Promise<LanguageModelV3GenerateResult> => {
      counts.generate += 1;
      if (toolTurn(options)) {
        return { content: [{ type: "tool-call", toolCallId: "c1", toolName: "lookup", input: '{"id":"P-1"}' }], finishReason: { unified: "tool-calls", raw: "tool_calls" }, usage, warnings: [] };
      }
      return { content: [{ type: "text", text: ANSWER.join("") }], finishReason: stop, usage, warnings: [] };
    },
    doStream: async (options) => {
      counts.stream += 1;
      const parts: LanguageModelV3StreamPart[] = toolTurn(options)
        ? [
            { type: "stream-start", warnings: [] },
            { type: "tool-call", toolCallId: "c1", toolName: "lookup", input: '{"id":"P-1"}' },
            { type: "finish", usage, finishReason: { unified: "tool-calls", raw: "tool_calls" } },
          ]
        : [
            { type: "stream-start", warnings: [] },
            { type: "text-start", id: "t" },
            ...ANSWER.map((delta): LanguageModelV3StreamPart => ({ type: "text-delta", id: "t", delta })),
            { type: "text-end", id: "t" },
            { type: "finish", usage, finishReason: stop },
          ];
      return { stream: simulateReadableStream({ chunks: parts, initialDelayInMs: null, chunkDelayInMs: null }) };
    },
  });
  return { model, counts };
}

function crewWith(model: MockLanguageModelV3, store: MemoryStore) {
  const lookup = tool({ description: "Look a policy up", inputSchema: z.object({ id: z.string() }), execute: async ({ id }) => ({ id, limit: 2500 }) });
  const agent = new Agent({ role: "Adjuster", goal: "Check cover", backstory: "Careful.", model, tools: { lookup } });
  const task = new Task({ name: "check", description: "Check the claim.", expectedOutput: "A verdict.", agent });
  return new Crew({ name: "streamed", agents: [agent], tasks: [task], store });
}

describe("streaming", () => {
  it("hands onToken the answer in pieces as it is generated, and journals each call once, whole", async () => {
    const store = new MemoryStore();
    const { model, counts } = lookupModel();
    const tokens: TokenEvent[] = [];
    const result = await crewWith(model, store).kickoff({ runId: "r", onToken: (event) => tokens.push(event) });
    expect(counts).toEqual({ generate: 0, stream: 2 });
    expect(tokens.map((t) => t.text)).toEqual(ANSWER);
    expect(new Set(tokens.map((t) => `${t.task}@${t.position}`))).toEqual(new Set(["check@2"]));
    expect(result.output).toBe(ANSWER.join(""));
    const calls = await store.calls("r", "check");
    expect(calls.map((c) => `${c.position}:${c.kind}`)).toEqual(["0:model", "1:tool", "2:model"]);
    expect(calls[2]!.usage).toMatchObject({ inputTokens: 10, outputTokens: 5 });
  });

  it("an observer's onToken streams too", async () => {
    const { model, counts } = lookupModel();
    const pieces: string[] = [];
    await crewWith(model, new MemoryStore()).kickoff({ observers: [{ onToken: (e) => pieces.push(e.text) }] });
    expect(counts.stream).toBe(2);
    expect(pieces.join("")).toBe(ANSWER.join(""));
  });

  it("records the same answer either way: a streamed run's journal replays without streaming, and the other way round", async () => {
    for (const [first, second] of [
      [true, false],
      [false, true],
    ] as const) {
      const store = new MemoryStore();
      const recorded = lookupModel();
      await crewWith(recorded.model, store).kickoff({ runId: "r", ...(first ? { onToken: () => {} } : {}) });
      const journal = await store.calls("r", "check");

      const replaying = lookupModel();
      const tokens: string[] = [];
      const events: string[] = [];
      const again = await crewWith(replaying.model, store).kickoff({
        runId: "r2",
        replayFrom: "r", // a new run answered, call by call, from the first one's journal
        observers: [{ onCallEnd: (e) => events.push(`${e.kind}${e.replayed ? " replayed" : ""}`) }],
        ...(second ? { onToken: (e: TokenEvent) => tokens.push(e.text) } : {}),
      });
      expect(replaying.counts).toEqual({ generate: 0, stream: 0 });
      expect(events).toEqual(["model replayed", "tool replayed", "model replayed"]);
      expect(again.output).toBe(ANSWER.join(""));
      expect(tokens).toEqual([]); // nothing is generated when the journal answers
      const copied = await store.calls("r2", "check");
      expect(copied.map(({ position, kind, requestHash, response }) => ({ position, kind, requestHash, response }))).toEqual(
        journal.map(({ position, kind, requestHash, response }) => ({ position, kind, requestHash, response })),
      );
    }
  });

  it("a stream that breaks off journals nothing for that call, and the retry asks again", async () => {
    const store = new MemoryStore();
    let streams = 0;
    const model = new MockLanguageModelV3({
      doStream: async () => {
        streams += 1;
        const broken = streams === 1;
        const parts: LanguageModelV3StreamPart[] = [
          { type: "stream-start", warnings: [] },
          { type: "text-start", id: "t" },
          { type: "text-delta", id: "t", delta: "half an " },
          ...(broken
            ? [{ type: "error", error: new APICallError({ message: "connection reset", url: "http://model", requestBodyValues: {}, statusCode: 502, isRetryable: true }) } as LanguageModelV3StreamPart]
            : [{ type: "text-delta", id: "t", delta: "answer" } as LanguageModelV3StreamPart, { type: "text-end", id: "t" } as LanguageModelV3StreamPart, { type: "finish", usage, finishReason: stop } as LanguageModelV3StreamPart]),
        ];
        return { stream: simulateReadableStream({ chunks: parts, initialDelayInMs: null, chunkDelayInMs: null }) };
      },
    });
    const agent = new Agent({ role: "Adjuster", goal: "Check cover", backstory: "Careful.", model });
    const task = new Task({ name: "check", description: "Check the claim.", expectedOutput: "A verdict.", agent, retries: 1 });
    const ends: string[] = [];
    const result = await new Crew({ name: "broken", agents: [agent], tasks: [task], store }).kickoff({
      runId: "r",
      retryDelayMs: 1,
      onToken: () => {},
      observers: [{ onCallEnd: (e) => ends.push(e.error ?? "ok") }],
    });
    expect(streams).toBe(2);
    expect(ends).toEqual(["connection reset", "ok"]);
    expect(result.output).toBe("half an answer");
    expect((await store.calls("r", "check")).map((c) => c.position)).toEqual([0]);
  });

  it("a streamed structured answer is parsed against the task's schema, and re-asked when it does not match", async () => {
    const answers = ['{"policy": 42}', '{"policy": "HO-1", ', '"covered": true}'];
    let streams = 0;
    const model = new MockLanguageModelV3({
      doStream: async () => {
        streams += 1;
        const deltas = streams === 1 ? [answers[0]!] : answers.slice(1);
        const parts: LanguageModelV3StreamPart[] = [
          { type: "stream-start", warnings: [] },
          { type: "text-start", id: "t" },
          ...deltas.map((delta): LanguageModelV3StreamPart => ({ type: "text-delta", id: "t", delta })),
          { type: "text-end", id: "t" },
          { type: "finish", usage, finishReason: stop },
        ];
        return { stream: simulateReadableStream({ chunks: parts, initialDelayInMs: null, chunkDelayInMs: null }) };
      },
    });
    const agent = new Agent({ role: "Adjuster", goal: "Check cover", backstory: "Careful.", model });
    const task = new Task({ name: "check", description: "Check the claim.", expectedOutput: "A verdict.", agent, output: z.object({ policy: z.string(), covered: z.boolean() }) });
    const store = new MemoryStore();
    const pieces: string[] = [];
    const result = await new Crew({ name: "structured", agents: [agent], tasks: [task], store }).kickoff({ runId: "r", onToken: (e) => pieces.push(e.text) });
    expect(streams).toBe(2);
    expect(result.get(task)!.structured).toEqual({ policy: "HO-1", covered: true });
    expect(pieces).toEqual(answers);
    expect((await store.calls("r", "check")).map((c) => c.position)).toEqual([0, 1]);
  });
});
