import type { LanguageModelV3CallOptions, LanguageModelV3GenerateResult, LanguageModelV3Middleware } from "@ai-sdk/provider";
import type { ToolSet } from "ai";
import { CrewstateError } from "../errors.js";
import type { CallRecord, JsonValue, Store, TokenUsage } from "../stores/store.js";
import { hashOf } from "./hash.js";

/**
 * The journal of one task's agent loop. Every model call and tool execution gets a position;
 * its answer is stored the moment it arrives. On resume, calls are answered from the journal
 * while the position and request hash match, so nothing that already answered is paid for twice.
 */
export class TaskJournal {
  private position = 0;
  private readonly toolPositions = new Map<string, number>();
  private readonly recorded: Map<number, CallRecord>;
  readonly stats = { called: 0, replayed: 0, usage: emptyUsage(), savedUsage: emptyUsage() };

  constructor(
    private readonly store: Store,
    private readonly runId: string,
    private readonly task: string,
    recorded: CallRecord[],
  ) {
    this.recorded = new Map(recorded.map((call) => [call.position, call]));
  }

  /** Starts the loop over from position 0; answers journaled so far stay available. */
  restart(): void {
    this.position = 0;
    this.toolPositions.clear();
  }

  readonly middleware: LanguageModelV3Middleware = {
    specificationVersion: "v3",
    wrapGenerate: async ({ doGenerate, params }) => {
      const position = this.position++;
      const requestHash = hashOf(requestOf(params));
      const hit = this.lookup(position, "model", requestHash);
      let result: LanguageModelV3GenerateResult;
      if (hit) {
        result = reviveModelResponse(hit.response);
        this.stats.replayed += 1;
        addUsage(this.stats.savedUsage, hit.usage);
      } else {
        result = await doGenerate();
        const usage = usageOf(result);
        await this.store.recordCall(this.runId, {
          task: this.task,
          position,
          kind: "model",
          requestHash,
          response: storableModelResponse(result),
          usage,
          at: new Date().toISOString(),
        });
        this.stats.called += 1;
        addUsage(this.stats.usage, usage);
      }
      for (const part of result.content) {
        if (part.type === "tool-call") this.toolPositions.set(part.toolCallId, this.position++);
      }
      return result;
    },
  };

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
          const position = this.toolPositions.get(options.toolCallId) ?? this.position++;
          const requestHash = hashOf({ tool: name, input });
          const hit = this.lookup(position, "tool", requestHash);
          if (hit) {
            this.stats.replayed += 1;
            return hit.response;
          }
          const output = await (execute as (input: unknown, options: unknown) => unknown)(input, options);
          await this.store.recordCall(this.runId, {
            task: this.task,
            position,
            kind: "tool",
            requestHash,
            response: toJson(output, `output of tool "${name}"`),
            usage: null,
            at: new Date().toISOString(),
          });
          this.stats.called += 1;
          return output;
        },
      } as typeof tool;
    }
    return wrapped;
  }

  private lookup(position: number, kind: CallRecord["kind"], requestHash: string): CallRecord | undefined {
    const call = this.recorded.get(position);
    return call && call.kind === kind && call.requestHash === requestHash ? call : undefined;
  }
}

export function emptyUsage(): TokenUsage {
  return { inputTokens: 0, outputTokens: 0 };
}

export function addUsage(total: TokenUsage, usage: TokenUsage | null | undefined): TokenUsage {
  if (usage) {
    total.inputTokens += usage.inputTokens;
    total.outputTokens += usage.outputTokens;
  }
  return total;
}

function usageOf(result: LanguageModelV3GenerateResult): TokenUsage {
  return { inputTokens: result.usage.inputTokens.total ?? 0, outputTokens: result.usage.outputTokens.total ?? 0 };
}

/** What identifies a request: everything sent to the model except transport details. */
function requestOf(params: LanguageModelV3CallOptions): unknown {
  const { abortSignal: _signal, headers: _headers, ...request } = params;
  return request;
}

/** The parts of a model answer worth keeping: no raw HTTP bodies or headers. */
function storableModelResponse(result: LanguageModelV3GenerateResult): JsonValue {
  const { request: _request, response, ...rest } = result;
  const meta = response
    ? { id: response.id, modelId: response.modelId, timestamp: response.timestamp?.toISOString() }
    : undefined;
  return toJson({ ...rest, response: meta }, "model response");
}

function reviveModelResponse(stored: JsonValue): LanguageModelV3GenerateResult {
  const result = structuredClone(stored) as unknown as LanguageModelV3GenerateResult & { response?: { timestamp?: unknown } };
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
