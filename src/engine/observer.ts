import type { LanguageModelV3Prompt } from "@ai-sdk/provider";
import type { JsonValue, TokenUsage } from "../stores/store.js";

/** `skipped`: a conditional task whose condition said no (in this kickoff or, reused, before). */
export type TaskOutcome = "reused" | "ran" | "rerun" | "skipped";

export interface ProgressEvent {
  runId: string;
  task: string;
  /** 1-based position of the task in the crew (of the step execution in a flow run). */
  index: number;
  /** Tasks in the crew; 0 in a flow run, whose executions are known only as they come. */
  total: number;
  state: "reused" | "running" | "done" | "retrying" | "failed" | "skipped";
  /** Where the run's state lives. */
  store: string;
  /** Why it runs or is reused, in words. */
  detail: string;
  isDemoModel: boolean;
}

export interface RunStartEvent {
  runId: string;
  /** The crew's or flow's name. */
  crew: string;
  /** Default "crew"; for a flow, `tasks` are its steps. */
  kind?: "crew" | "flow";
  /** Where the run's state lives, password redacted. */
  store: string;
  /** The crew's tasks, in crew order. */
  tasks: string[];
  /** Kickoffs of this run so far, this one included. */
  attempt: number;
}

export interface RunEndEvent {
  runId: string;
  status: "completed" | "paused" | "failed";
  error?: string;
}

export interface TaskStartEvent {
  runId: string;
  task: string;
  agent: string;
  /** The model spec the agent uses (`openai:gpt-4o-mini`, `demo`, …). */
  model: string;
  attempt: number;
  fencingToken: number;
  /** The task's description, its placeholders filled in. */
  description?: string;
}

/** A task finished in this kickoff: worked, reused, skipped, or failed. */
export interface TaskEndEvent {
  runId: string;
  task: string;
  outcome: TaskOutcome | "failed";
  /** Set when the task failed; the message. */
  error?: string;
}

/** A model or tool call of a task's agent loop, as it starts. */
export interface CallStartEvent {
  runId: string;
  task: string;
  kind: "model" | "tool";
  /** The call's place in the task's journal. */
  position: number;
  /** The model's ID, or the tool's name. */
  name: string;
  /** A tool call's arguments; null for a model call. */
  input: JsonValue | null;
  /** A model call's request as sent (system, user, assistant and tool messages); absent for a tool call. Read-only. */
  messages?: LanguageModelV3Prompt;
  /** Answered from the journal (or a cassette): nothing was called or paid for. */
  replayed: boolean;
}

export interface CallEndEvent extends CallStartEvent {
  durationMs: number;
  /** Tokens and cost of a live model call; what a replayed one saved; null for tools. */
  usage: TokenUsage | null;
  /** A model call's answer text, or a tool's result. */
  output: JsonValue | null;
  /** Set when the call threw; the message, secrets redacted. */
  error?: string;
}

/** Text of a model answer as it is generated (only for agents asked to stream). */
export interface TokenEvent {
  runId: string;
  task: string;
  position: number;
  text: string;
}

/**
 * Everything a run shows as it happens, for views, traces and logs. Every method is optional; an
 * observer that throws is logged and ignored: watching a run never changes it.
 */
export interface RunObserver {
  onRunStart?(event: RunStartEvent): void;
  onRunEnd?(event: RunEndEvent): void;
  onProgress?(event: ProgressEvent): void;
  onTaskStart?(event: TaskStartEvent): void;
  /** Also for a task that is reused or skipped, which has no `onTaskStart`. */
  onTaskEnd?(event: TaskEndEvent): void;
  onCallStart?(event: CallStartEvent): void;
  onCallEnd?(event: CallEndEvent): void;
  onToken?(event: TokenEvent): void;
}

type Handlers = Required<RunObserver>;

/** One observer that hands each event to all of `observers`, reporting (never rethrowing) their failures. */
export function fanOut(observers: readonly RunObserver[], onError: (error: unknown, method: keyof RunObserver) => void): RunObserver {
  const method =
    <K extends keyof Handlers>(name: K) =>
    (event: Parameters<Handlers[K]>[0]) => {
      for (const observer of observers) {
        const handler = observer[name] as ((event: Parameters<Handlers[K]>[0]) => void) | undefined;
        if (!handler) continue;
        try {
          handler.call(observer, event);
        } catch (error) {
          onError(error, name);
        }
      }
    };
  return {
    onRunStart: method("onRunStart"),
    onRunEnd: method("onRunEnd"),
    onProgress: method("onProgress"),
    onTaskStart: method("onTaskStart"),
    onTaskEnd: method("onTaskEnd"),
    onCallStart: method("onCallStart"),
    onCallEnd: method("onCallEnd"),
    onToken: method("onToken"),
  };
}
