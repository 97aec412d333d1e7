/**
 * OpenTelemetry spans of a run, recorded by an in-memory exporter registered as the global tracer
 * provider: the tree run → task → model / tool call, its GenAI and crewstate attributes, a resume
 * after SIGKILL (replayed calls marked, committed tasks reused), and content only when asked for.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MemoryStore } from "../../src/index.js";
import { openStore } from "../../src/stores/open.js";
import { CONTENT_ENV } from "../../src/telemetry/tracing.js";
import { postgresService, freshName, withParam } from "../services.js";
import { killedAt } from "../engine/fixtures/crash-harness.js";
import { TASKS, toolCrew } from "./fixtures/tool-crew.js";

const TOOL_CHILD = fileURLToPath(new URL("./fixtures/tool-crew-child.ts", import.meta.url));
const inputs = { claim: "CLM-7" };
const exporter = new InMemorySpanExporter();
const scratch = mkdtempSync(path.join(os.tmpdir(), "crewstate-tracing-"));
const pg = await postgresService();

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
});
afterEach(() => {
  exporter.reset();
  delete process.env[CONTENT_ENV];
});
afterAll(() => {
  trace.disable();
  context.disable();
  rmSync(scratch, { recursive: true, force: true });
});

interface Node {
  name: string;
  attributes: ReadableSpan["attributes"];
  span: ReadableSpan;
  children: Node[];
}

/** The finished spans as trees, children in start order. */
function forest(spans: ReadableSpan[] = exporter.getFinishedSpans()): Node[] {
  const nodes = new Map(spans.map((span) => [span.spanContext().spanId, { name: span.name, attributes: span.attributes, span, children: [] as Node[] }]));
  const roots: Node[] = [];
  const byStart = [...nodes.values()].sort((a, b) => (a.span.startTime[0] - b.span.startTime[0]) * 1e9 + (a.span.startTime[1] - b.span.startTime[1]));
  for (const node of byStart) {
    const parent = node.span.parentSpanContext?.spanId;
    const into = parent === undefined ? undefined : nodes.get(parent);
    (into ? into.children : roots).push(node);
  }
  return roots;
}

const hrMs = ([seconds, nanos]: [number, number]) => seconds * 1e3 + nanos / 1e6;

/** Names only, for comparing shapes. */
const shape = (node: Node): unknown => (node.children.length === 0 ? node.name : { [node.name]: node.children.map(shape) });

const CONTENT_KEYS = ["gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions", "gen_ai.tool.call.arguments", "gen_ai.tool.call.result"];
const contentKeysOf = (spans: ReadableSpan[]) => spans.flatMap((s) => Object.keys(s.attributes)).filter((key) => CONTENT_KEYS.includes(key));

const CALLS = ["chat deterministic", "execute_tool lookup", "chat deterministic"];

describe("tracing a run", () => {
  it("nests run → task → model and tool calls under the application's own span, with GenAI and crewstate attributes, and no content", async () => {
    const tracer = trace.getTracer("app");
    await tracer.startActiveSpan("app request", async (span) => {
      await toolCrew().kickoff({ runId: "traced-1", store: new MemoryStore(), inputs });
      span.end();
    });

    const [app, ...others] = forest();
    expect(others).toEqual([]);
    expect(shape(app!)).toEqual({ "app request": [{ "run traced": TASKS.map((task) => ({ [`task ${task}`]: CALLS })) }] });

    const run = app!.children[0]!;
    expect(run.span.kind).toBe(SpanKind.INTERNAL);
    expect(run.attributes).toEqual({
      "crewstate.run.id": "traced-1",
      "crewstate.crew": "traced",
      "crewstate.store": "memory:",
      "crewstate.attempt": 1,
      "crewstate.tasks": 2,
      "crewstate.status": "completed",
      "crewstate.calls.made": 6,
      "crewstate.calls.replayed": 0,
    });
    const task = run.children[0]!;
    expect(task.attributes).toMatchObject({
      "crewstate.run.id": "traced-1",
      "crewstate.task": "intake",
      "gen_ai.agent.name": "Adjuster",
      "crewstate.model": "test.chat:deterministic",
      "crewstate.attempt": 1,
      "crewstate.outcome": "ran",
    });
    expect(task.attributes["crewstate.fencing_token"]).toEqual(expect.any(Number));
    const [chat, lookup] = task.children;
    expect(chat!.span.kind).toBe(SpanKind.CLIENT);
    expect(chat!.attributes).toEqual({
      "crewstate.position": 0,
      "crewstate.replayed": false,
      "gen_ai.operation.name": "chat",
      "gen_ai.request.model": "deterministic",
      "gen_ai.provider.name": "test",
      "gen_ai.usage.input_tokens": 10,
      "gen_ai.usage.output_tokens": 5,
    });
    expect(lookup!.attributes).toEqual({
      "crewstate.position": 1,
      "crewstate.replayed": false,
      "gen_ai.operation.name": "execute_tool",
      "gen_ai.tool.name": "lookup",
    });
    expect(contentKeysOf(exporter.getFinishedSpans())).toEqual([]);
  });

  it("with CREWSTATE_OTEL_CONTENT=1, records prompts, answers, tool arguments and results", async () => {
    process.env[CONTENT_ENV] = "1";
    const result = await toolCrew().kickoff({ runId: "traced-content", store: new MemoryStore(), inputs });

    const task = forest()[0]!.children[0]!;
    const [ask, lookup, answer] = task.children;
    expect(JSON.parse(ask!.attributes["gen_ai.system_instructions"] as string)).toEqual([{ type: "text", content: expect.stringContaining("You are Adjuster.") }]);
    expect(JSON.parse(ask!.attributes["gen_ai.input.messages"] as string)).toEqual([
      { role: "user", parts: [{ type: "text", content: expect.stringContaining("TASK intake. Check the claim CLM-7.") }] },
    ]);
    expect(JSON.parse(ask!.attributes["gen_ai.output.messages"] as string)).toEqual([{ role: "assistant", parts: [] }]);
    expect(JSON.parse(lookup!.attributes["gen_ai.tool.call.arguments"] as string)).toEqual({ claim: "CLM-7" });
    expect(JSON.parse(lookup!.attributes["gen_ai.tool.call.result"] as string)).toEqual({ claim: "CLM-7", limit: 2500 });
    const messages = JSON.parse(answer!.attributes["gen_ai.input.messages"] as string) as { role: string; parts: { type: string }[] }[];
    expect(messages.map((m) => `${m.role}: ${m.parts.map((p) => p.type).join(",")}`)).toEqual(["user: text", "assistant: tool_call", "tool: tool_call_response"]);
    expect(JSON.parse(answer!.attributes["gen_ai.output.messages"] as string)).toEqual([{ role: "assistant", parts: [{ type: "text", content: result.outputs.intake }] }]);
  });

  it("keeps the calls of parallel tasks under their own task's span", async () => {
    await toolCrew({ parallel: true }).kickoff({ runId: "traced-parallel", store: new MemoryStore(), inputs });
    const run = forest()[0]!;
    expect(shape(run)).toEqual({ "run traced": TASKS.map((task) => ({ [`task ${task}`]: CALLS })) });
    const [intake, assess] = run.children;
    // They did run at once: the second started before the first ended.
    expect(hrMs(assess!.span.startTime)).toBeLessThan(hrMs(intake!.span.endTime));
    for (const task of run.children) {
      expect(task.children.map((call) => call.attributes["crewstate.position"])).toEqual([0, 1, 2]);
    }
  });

  it("marks a failed task and its run as errors", async () => {
    await expect(toolCrew({ failIn: "assess" }).kickoff({ runId: "traced-fail", store: new MemoryStore(), inputs, retryDelayMs: 1 })).rejects.toThrow();
    const run = forest()[0]!;
    const failed = run.children.find((t) => t.name === "task assess")!;
    expect(failed.attributes["crewstate.outcome"]).toBe("failed");
    expect(failed.span.status.code).toBe(SpanStatusCode.ERROR);
    const chat = failed.children[2]!;
    expect(chat.span.status).toEqual({ code: SpanStatusCode.ERROR, message: "model went away" });
    expect(chat.attributes["error.type"]).toBe("_OTHER");
    expect(run.attributes["crewstate.status"]).toBe("failed");
    expect(run.span.status).toMatchObject({ code: SpanStatusCode.ERROR, message: expect.stringContaining("assess") });
  });

  it("keeps a retried task in one span, at its last attempt, with the retry replaying the journaled calls", async () => {
    await expect(toolCrew({ failIn: "assess", retries: 1 }).kickoff({ runId: "traced-retry", store: new MemoryStore(), inputs, retryDelayMs: 1 })).rejects.toThrow();
    const assess = forest()[0]!.children.find((t) => t.name === "task assess")!;
    expect(assess.attributes).toMatchObject({ "crewstate.attempt": 2, "crewstate.outcome": "failed" });
    expect(assess.span.events.map((e) => [e.name, e.attributes?.["crewstate.attempt"]])).toEqual([["crewstate.retry", 2]]);
    expect(assess.children.map((c) => `${c.name}${c.attributes["crewstate.replayed"] ? " replayed" : ""}${c.span.status.code === SpanStatusCode.ERROR ? " failed" : ""}`)).toEqual([
      "chat deterministic",
      "execute_tool lookup",
      "chat deterministic failed",
      "chat deterministic replayed",
      "execute_tool lookup replayed",
      "chat deterministic failed",
    ]);
  });

  it("records nothing with tracing: false", async () => {
    await toolCrew().kickoff({ runId: "untraced", store: new MemoryStore(), inputs, tracing: false });
    expect(exporter.getFinishedSpans()).toEqual([]);
  });

  it.skipIf(!pg.available)("never puts a store's password in a span", async () => {
    const url = new URL(withParam(pg.url, "schema", freshName("tracing")));
    url.password = "s3cret-CANARY";
    const store = await openStore(url.toString());
    try {
      await toolCrew().kickoff({ runId: "traced-pg", store, inputs });
    } finally {
      await store.close();
    }
    const run = forest()[0]!;
    expect(run.attributes["crewstate.store"]).toMatch(/^postgres:\/\/postgres:\*\*\*@/);
    expect(JSON.stringify(exporter.getFinishedSpans().map((s) => s.attributes))).not.toContain("CANARY");
  });
});

describe("tracing a resume after SIGKILL", () => {
  it("shows the committed task reused and the killed task's journaled calls replayed", async () => {
    const url = `sqlite:${path.join(scratch, "resume.db")}`;
    // The 4th model answer is the second task's last: its first answer and tool result are committed.
    expect(await killedAt(url, "traced-resume", path.join(scratch, "unused.ledger"), "answered:4", "chain", TOOL_CHILD)).toBe("SIGKILL");

    const store = await openStore(url);
    try {
      const resumed = await toolCrew().kickoff({ runId: "traced-resume", store, inputs });
      expect(resumed.tasks.map((t) => t.outcome)).toEqual(["reused", "ran"]);
    } finally {
      await store.close();
    }

    const [run, ...others] = forest();
    expect(others).toEqual([]);
    expect(shape(run!)).toEqual({ "run traced": ["task intake", { "task assess": CALLS }] });
    expect(run!.attributes).toMatchObject({ "crewstate.attempt": 2, "crewstate.calls.made": 1, "crewstate.calls.replayed": 2, "crewstate.status": "completed" });
    const [intake, assess] = run!.children;
    expect(intake!.attributes).toMatchObject({ "crewstate.task": "intake", "crewstate.outcome": "reused" });
    expect(assess!.attributes).toMatchObject({ "crewstate.task": "assess", "crewstate.outcome": "ran", "crewstate.attempt": 2 });
    const [ask, lookup, answer] = assess!.children;
    expect(ask!.attributes).toMatchObject({ "crewstate.replayed": true, "crewstate.saved.input_tokens": 10, "crewstate.saved.output_tokens": 5 });
    expect(ask!.attributes["gen_ai.usage.input_tokens"]).toBeUndefined();
    expect(ask!.span.kind).toBe(SpanKind.INTERNAL);
    expect(lookup!.attributes).toMatchObject({ "gen_ai.tool.name": "lookup", "crewstate.replayed": true });
    expect(answer!.attributes).toMatchObject({ "crewstate.replayed": false, "gen_ai.usage.input_tokens": 10 });
    expect(contentKeysOf(exporter.getFinishedSpans())).toEqual([]);
  }, 60_000);
});
