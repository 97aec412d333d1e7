import type {
  LanguageModelV3CallOptions,
  LanguageModelV3GenerateResult,
  LanguageModelV3Middleware,
  LanguageModelV3StreamPart,
  LanguageModelV3StreamResult,
} from "@ai-sdk/provider";
import type { ToolSet } from "ai";
import { CrewstateError, messageOf, quote } from "../errors.js";
import type { CallRecord, JsonValue, Store, TokenUsage } from "../stores/store.js";
import { costOf, type PriceTable } from "../llm/prices.js";
import { crashPoint } from "./crash-points.js";
import { StreamAssembler, streamOf } from "./model-stream.js";
import { hashOf } from "../hash.js";
import { addUsage, emptyUsage, usageOfCalls, type BudgetGuard } from "./ledger.js";
import type { CallStartEvent, RunObserver } from "./observer.js";

/** How a journal prices live calls, the budget they count against, and the lease it writes under. */
export interface JournalOptions {
  prices?: PriceTable;
  budget?: BudgetGuard;
  /** Aborted once the task's lease is lost: from then on nothing more is journaled. */
  fence?: AbortSignal;
  /** The lease's fencing token: the store refuses a journal entry once another worker holds a newer one. */
  fencingToken?: number;
  /** Told as each call starts and ends, replayed ones too. */
  observer?: RunObserver;
}

/** A model call under way. `replay` is its recorded answer, when it has one. */
interface ModelCall {
  modelId: string;
  position: number;
  requestHash: string;
  /** The request's messages, kept with the answer for people to read (`crewstate ui`). */
  prompt: LanguageModelV3CallOptions["prompt"];
  started: number;
  watch: Watch;
  replay?: LanguageModelV3GenerateResult;
}

type Watch = { end: (usage: TokenUsage | null, output: JsonValue | null) => void; fail: (error: unknown) => void };

type JournalStats = { called: number; replayed: number; usage: TokenUsage; savedUsage: TokenUsage };

/** What a task's journal and the journals nested in it share. */
interface SharedState {
  stats: JournalStats;
  /** Answers not yet committed, oldest first. */
  pending: CallRecord[];
  /** The commit of answers taken from `pending` that is under way. */
  flushing: Promise<void>;
}

/**
 * The journal of one task's agent loop. Every model call and tool execution gets a position. An
 * answer is committed before anything else leaves the process — the next model call, a tool's
 * execution — or, for the last answers of a task, in the same commit as the task's result or
 * failure (`uncommitted`): a crash can lose only an answer that nothing was done with yet. On
 * resume, calls are answered from the journal while the position and request hash match, so
 * nothing that already answered is paid for twice.
 */
export class TaskJournal {
  private position: number;
  private readonly toolPositions = new Map<string, number>();
  private readonly recorded: Map<number, CallRecord>;
  private readonly cassette: Map<number, CallRecord> | undefined;
  private readonly shared: SharedState;

  /**
   * `recorded` is this task's own journal so far. With a `cassette` (another run's journal of the
   * same task), answers come only from the two, and a call neither holds fails with REPLAY_MISS:
   * nothing reaches a model or a tool.
   */
  constructor(
    private readonly store: Store,
    private readonly runId: string,
    private readonly task: string,
    recorded: CallRecord[] | Map<number, CallRecord>,
    cassette?: CallRecord[] | Map<number, CallRecord>,
    private readonly options: JournalOptions = {},
    private readonly basePosition = 0,
    shared?: SharedState,
  ) {
    this.position = basePosition;
    this.recorded = recorded instanceof Map ? recorded : new Map(recorded.map((call) => [call.position, call]));
    this.cassette = cassette instanceof Map || cassette === undefined ? cassette : new Map(cassette.map((call) => [call.position, call]));
    this.shared = shared ?? { stats: { called: 0, replayed: 0, usage: emptyUsage(), savedUsage: emptyUsage() }, pending: [], flushing: Promise.resolve() };
  }

  get stats(): JournalStats {
    return this.shared.stats;
  }

  /** The answers not committed yet, for the task's next commit to carry; see `committed`. */
  uncommitted(): CallRecord[] {
    return [...this.shared.pending];
  }

  /**
   * Forgets every answer, here and in the store, so that the next attempt asks afresh instead of
   * replaying answers that led nowhere; returns what the forgotten live calls cost.
   */
  async forget(): Promise<TokenUsage> {
    const cost = this.usage();
    this.recorded.clear();
    this.shared.pending.length = 0;
    await this.store.clearCalls(this.runId, this.task);
    return cost;
  }

  /** Called once a commit carrying `uncommitted()` has succeeded. */
  committed(): void {
    this.shared.pending.length = 0;
  }

  /** Commits the answers not committed yet, after any commit already under way. */
  private async flush(): Promise<void> {
    const calls = this.shared.pending.splice(0);
    const done = this.shared.flushing.then(async () => {
      this.options.fence?.throwIfAborted();
      for (const [i, call] of calls.entries()) {
        try {
          await this.store.recordCall(this.runId, call, { fencingToken: this.options.fencingToken });
        } catch (error) {
          // Kept for the task's failure commit, which may still get them to the store.
          this.shared.pending.unshift(...calls.slice(i));
          throw error;
        }
      }
    });
    this.shared.flushing = done.catch(() => {});
    await done;
  }

  /** Starts the loop over from its first position; answers journaled so far stay available. */
  restart(): void {
    this.position = this.basePosition;
    this.toolPositions.clear();
  }

  /**
   * A journal for a loop nested in the call at `position` (a coworker's work delegated by a
   * manager): its positions live in a range of their own, so replaying the outer call whole
   * never shifts the positions of the outer loop.
   */
  nested(position: number): TaskJournal {
    return new TaskJournal(this.store, this.runId, this.task, this.recorded, this.cassette, this.options, (position + 1) * NESTED_RANGE, this.shared);
  }

  /**
   * Journals the calls of one model, pricing each with the ledger's table and checking the budget
   * first. A streamed call is journaled like a generated one, once, when its answer is whole.
   */
  middleware(modelId: string): LanguageModelV3Middleware {
    return {
      specificationVersion: "v3",
      wrapGenerate: ({ doGenerate, params }) => this.generate(modelId, doGenerate, params),
      wrapStream: ({ doStream, params }) => this.stream(modelId, doStream, params),
    };
  }

  private async generate(
    modelId: string,
    doGenerate: () => PromiseLike<LanguageModelV3GenerateResult>,
    params: LanguageModelV3CallOptions,
  ): Promise<LanguageModelV3GenerateResult> {
    const call = await this.modelCall(modelId, params);
    if (call.replay) return call.replay;
    const result = await asked(call, doGenerate);
    this.answered(call, result);
    this.placeToolCalls(result.content);
    return result;
  }

  /**
   * A streamed model call: a recorded answer is played back as a stream; a live one passes its
   * parts through as they come (telling the observer each piece of text) and is journaled, whole,
   * when its finish part arrives — before the tools it asks for can run. A stream that breaks off
   * journals nothing: the resume asks again.
   */
  private async stream(
    modelId: string,
    doStream: () => PromiseLike<LanguageModelV3StreamResult>,
    params: LanguageModelV3CallOptions,
  ): Promise<LanguageModelV3StreamResult> {
    const call = await this.modelCall(modelId, params);
    if (call.replay) return { stream: streamOf(call.replay) };
    const live = await asked(call, doStream);
    const onToken = this.options.observer?.onToken;
    const assembler = new StreamAssembler();
    let ended = false;
    const end = (error?: unknown) => {
      if (ended) return;
      ended = true;
      if (error === undefined) this.answered(call, assembler.result());
      else call.watch.fail(error);
    };
    const passOn = new TransformStream<LanguageModelV3StreamPart, LanguageModelV3StreamPart>({
      transform: (part, controller) => {
        assembler.add(part);
        if (part.type === "text-delta" && onToken && part.delta !== "") {
          onToken({ runId: this.runId, task: this.task, position: call.position, text: part.delta });
        }
        if (part.type === "tool-call") this.placeToolCalls([part]);
        if (part.type === "error") end(part.error);
        else if (part.type === "finish") end();
        controller.enqueue(part);
      },
      flush: () => end(new Error("the model's stream ended before its finish part")),
    });
    return { ...live, stream: live.stream.pipeThrough(passOn) };
  }

  /** A model call starting: its position, request hash and watch, and its recorded answer if it has one. */
  private async modelCall(modelId: string, params: LanguageModelV3CallOptions): Promise<ModelCall> {
    const position = this.position++;
    const requestHash = this.keyed(hashOf(requestOf(params)));
    const hit = await this.answer(position, "model", requestHash);
    const watch = this.watch({ kind: "model", position, name: modelId, input: null, messages: params.prompt, replayed: hit !== undefined });
    if (hit) {
      const replay = reviveModelResponse(hit.response);
      watch.end(hit.usage, textOf(replay));
      this.placeToolCalls(replay.content);
      return { modelId, position, requestHash, prompt: params.prompt, started: performance.now(), watch, replay };
    }
    this.options.budget?.check(this.task);
    await this.flush();
    return { modelId, position, requestHash, prompt: params.prompt, started: performance.now(), watch };
  }

  /** Journals a live model call's whole answer. */
  private answered(call: ModelCall, result: LanguageModelV3GenerateResult): void {
    crashPoint("answered");
    const usage = usageOf(result, call.modelId, this.options.prices);
    this.record({ position: call.position, kind: "model", requestHash: call.requestHash, response: storableModelResponse(result, call), usage });
    addUsage(this.stats.usage, usage);
    this.options.budget?.record(usage);
    call.watch.end(usage, textOf(result));
  }

  /** Gives the tool calls of a model answer the positions after it, in the order asked. */
  private placeToolCalls(content: readonly { type: string; toolCallId?: string }[]): void {
    for (const part of content) {
      if (part.type === "tool-call") this.toolPositions.set(part.toolCallId!, this.position++);
    }
  }

  /** Tells the observer a call started; the returned functions tell it how it ended. */
  private watch(call: Omit<CallStartEvent, "runId" | "task">): Watch {
    const observer = this.options.observer;
    const event: CallStartEvent = { runId: this.runId, task: this.task, ...call };
    const started = performance.now();
    observer?.onCallStart?.(event);
    return {
      end: (usage, output) => observer?.onCallEnd?.({ ...event, durationMs: performance.now() - started, usage, output }),
      fail: (error) => observer?.onCallEnd?.({ ...event, durationMs: performance.now() - started, usage: null, output: null, error: messageOf(error) }),
    };
  }

  /** Tokens and cost of every live call in the task's journal, whichever process made it. */
  usage(): TokenUsage {
    return usageOfCalls(this.recorded.values());
  }

  /** The position a tool call was given when the model asked for it. */
  positionOf(toolCallId: string): number {
    let position = this.toolPositions.get(toolCallId);
    if (position === undefined) {
      position = this.position++;
      this.toolPositions.set(toolCallId, position);
    }
    return position;
  }

  /** The agent's tools, each execution journaled like a model call. */
  wrapTools(tools: ToolSet): ToolSet {
    const wrapped: ToolSet = {};
    for (const [name, tool] of Object.entries(tools)) {
      const execute = tool.execute;
      if (!execute) {
        wrapped[name] = tool;
        continue;
      }
      wrapped[name] = {
        ...tool,
        execute: async (input: unknown, options: { toolCallId: string }) => {
          const position = this.positionOf(options.toolCallId);
          const requestHash = this.keyed(hashOf({ tool: name, input }));
          const hit = await this.answer(position, "tool", requestHash);
          const watch = this.watch({ kind: "tool", position, name, input: toJson(input, `input of tool "${name}"`), replayed: hit !== undefined });
          if (hit) {
            watch.end(null, hit.response);
            return hit.response;
          }
          await this.flush();
          let output: unknown;
          try {
            output = await (execute as (input: unknown, options: unknown) => unknown)(input, options);
          } catch (error) {
            watch.fail(error);
            throw error;
          }
          const response = toJson(output, `output of tool ${quote(name)}`);
          this.record({ position, kind: "tool", requestHash, response, usage: null });
          watch.end(null, response);
          return output;
        },
      } as typeof tool;
    }
    return wrapped;
  }

  /** The recorded answer to this call, if any; from a cassette, copied into this run's journal. */
  /** A request hash as the store keeps it: keyed when encryption at rest is on. */
  private keyed(hash: string): string {
    return this.store.hasher ? this.store.hasher(hash) : hash;
  }

  private async answer(position: number, kind: CallRecord["kind"], requestHash: string): Promise<CallRecord | undefined> {
    const matches = (call: CallRecord | undefined) => call !== undefined && call.kind === kind && call.requestHash === requestHash;
    const own = this.recorded.get(position);
    if (matches(own)) {
      this.stats.replayed += 1;
      addUsage(this.stats.savedUsage, own!.usage);
      return own;
    }
    if (!this.cassette) return undefined;
    const taped = this.cassette.get(position);
    if (!matches(taped)) {
      throw new CrewstateError(
        "REPLAY_MISS",
        `task ${quote(this.task)} has no recorded answer for its ${kind} call at position ${position} (request ${requestHash.slice(0, 12)}): ` +
          (taped
            ? `the recording made a different request there (${taped.kind} ${taped.requestHash.slice(0, 12)}), so the task's prompt, inputs, agent or tools differ from the recorded run's`
            : `the recording ${this.cassette.size === 0 ? "holds no call of this task" : "ends before it"}`) +
          "; a replay makes no live calls",
        { task: this.task, position, requestHash },
      );
    }
    // A copy from a recording cost this run nothing: it carries no usage.
    this.record({ position, kind, requestHash, response: taped!.response, usage: null }, false);
    this.stats.replayed += 1;
    addUsage(this.stats.savedUsage, taped!.usage);
    return taped;
  }

  private record(call: Omit<CallRecord, "task" | "at">, live = true): void {
    this.options.fence?.throwIfAborted();
    const record: CallRecord = { task: this.task, ...call, at: new Date().toISOString() };
    this.shared.pending.push(record);
    this.recorded.set(call.position, record);
    if (live) this.stats.called += 1;
  }
}

/** Asks the model, telling the call's watch when asking throws. */
async function asked<T>(call: ModelCall, ask: () => PromiseLike<T>): Promise<T> {
  try {
    return await ask();
  } catch (error) {
    call.watch.fail(error);
    throw error;
  }
}

/** Each nested loop's positions start at (outer position + 1) × this. */
const NESTED_RANGE = 1_000_000;

function usageOf(result: LanguageModelV3GenerateResult, modelId: string, prices: PriceTable | undefined): TokenUsage {
  const inputTokens = result.usage.inputTokens.total ?? 0;
  const outputTokens = result.usage.outputTokens.total ?? 0;
  return { inputTokens, outputTokens, costUsd: costOf(modelId, inputTokens, outputTokens, prices) };
}

/**
 * What identifies a request: everything sent to the model except transport details — streamed or
 * not is one of them, so a streamed answer replays for the same request generated, and back.
 */
function requestOf(params: LanguageModelV3CallOptions): unknown {
  const { abortSignal: _signal, headers: _headers, includeRawChunks: _raw, ...request } = params;
  return request;
}

/**
 * The parts of a model answer worth keeping — no raw HTTP bodies or headers — and, under
 * `crewstate`, what people read it with: the request's messages and how long the call took.
 */
function storableModelResponse(result: LanguageModelV3GenerateResult, call: Pick<ModelCall, "prompt" | "started">): JsonValue {
  const { request: _request, response, ...rest } = result;
  const meta = response
    ? { id: response.id, modelId: response.modelId, timestamp: response.timestamp?.toISOString() }
    : undefined;
  const seen = { prompt: promptJson(call.prompt), durationMs: Math.round(performance.now() - call.started) };
  // The prompt is made JSON once, by promptJson.
  return { ...(toJson({ ...rest, response: meta }, "model response") as { [key: string]: JsonValue }), crewstate: seen };
}

/** The request's messages as JSON: file bytes are kept as their size, URLs as text. */
function promptJson(prompt: LanguageModelV3CallOptions["prompt"]): JsonValue {
  return JSON.parse(
    JSON.stringify(prompt, (_key, value: unknown) => (value instanceof Uint8Array ? { bytes: value.byteLength } : value instanceof URL ? value.href : value)),
  ) as JsonValue;
}

function reviveModelResponse(stored: JsonValue): LanguageModelV3GenerateResult {
  const { crewstate: _seen, ...answer } = stored as { [key: string]: JsonValue };
  const result = structuredClone(answer) as unknown as LanguageModelV3GenerateResult & { response?: { timestamp?: unknown } };
  if (result.response && typeof result.response.timestamp === "string") {
    result.response.timestamp = new Date(result.response.timestamp);
  }
  return result;
}

/** A JSON copy of a value, dropping `undefined` fields; a value JSON cannot carry is an error. */
function toJson(value: unknown, what: string): JsonValue {
  if (value === undefined) return null;
  try {
    return JSON.parse(JSON.stringify(value)) as JsonValue;
  } catch (error) {
    throw new CrewstateError("NOT_JSON", `${what} cannot be journaled as JSON: ${(error as Error).message}`, {}, { cause: error });
  }
}

/** The text parts of a model answer, joined. */
function textOf(result: LanguageModelV3GenerateResult): string {
  return result.content.map((part) => (part.type === "text" ? part.text : "")).join("");
}
