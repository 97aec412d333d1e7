import type { LanguageModel } from "ai";
import { generateRunId, kickoff, type KickoffOptions, type KickoffResult } from "../engine/kickoff.js";
import { prepareTasks } from "../engine/prepare.js";
import { enqueueRun } from "../queue/enqueue.js";
import { checkRunId } from "../stores/codec.js";
import { CrewstateError, quote } from "../errors.js";
import type { Store } from "../stores/store.js";
import { retentionRules, type RetentionOptions } from "../runs/prune-plan.js";
import type { JsonValue } from "../stores/store.js";
import { Agent } from "./agent.js";
import { isConditionalTask } from "./conditional-task.js";
import { isTask, Task, typeOf } from "./task.js";
import type { AgentStep, TaskOutput } from "./task-output.js";

export type Process = "sequential" | "hierarchical";

/** CrewAI's default manager, used by a hierarchical crew that brings no `manager` of its own. */
export const DEFAULT_MANAGER = {
  role: "Crew Manager",
  goal: "Manage the team to complete the task in the best way possible.",
  backstory:
    "You are a seasoned manager with a knack for getting the best out of your team. You are also known for your ability " +
    "to delegate work to the right people, and to ask the right questions to get the best out of your team. Even though " +
    "you don't perform tasks by yourself, you have a lot of experience in the field, which allows you to properly " +
    "evaluate the work of your team members.",
};

export interface CrewConfig {
  /** Names the crew in stored runs; a run of one crew is never resumed by another. */
  name: string;
  tasks: Task<any>[];
  agents?: Agent[];
  /** `sequential` (default): each task by its own agent, in order. `hierarchical`: a manager delegates each task. */
  process?: Process;
  /** The manager of a hierarchical crew; default: CrewAI's "Crew Manager" on `managerModel`. */
  manager?: Agent;
  /** The model of the default manager; default: the crew's `model`. */
  managerModel?: string | LanguageModel;
  /** A store, or a store URL; default `CREWSTATE_STORE` or `sqlite:.crewstate/state.db`. */
  store?: Store | string;
  /** Model for agents that name none; default `CREWSTATE_MODEL`. */
  model?: string | LanguageModel;
  /**
   * Applied at the end of each run of this crew, after its final status commit (in place of the
   * store's own `retention`): runs removed as `crewstate prune` would, never the run just finished.
   */
  retention?: RetentionOptions;
  /** The most tasks that run at once when async tasks run together. Default: no cap. */
  maxConcurrency?: number;
  /** Called with every task's accepted output before it is committed (after the task's own `callback`); a throw fails the task. */
  taskCallback?: (output: TaskOutput) => void | Promise<void>;
  /** Called after each agent step (a model answer and the tool calls it made); a throw fails the task. */
  stepCallback?: (step: AgentStep) => void | Promise<void>;
  /** Also call `callback` and `taskCallback` for results reused from the store. Default false: only for tasks that ran in this kickoff. */
  callbackOnReuse?: boolean;
}

const CREW_BRAND = Symbol.for("crewstate.Crew");

/** Agents working through tasks in order; every finished task is checkpointed in the store. */
export class Crew {
  readonly name: string;
  readonly tasks: readonly Task<any>[];
  readonly agents: readonly Agent[];
  readonly process: Process;
  readonly store: Store | string | undefined;
  readonly retention: RetentionOptions | undefined;
  readonly model: string | LanguageModel | undefined;
  readonly manager: Agent | undefined;
  readonly managerModel: string | LanguageModel | undefined;
  readonly maxConcurrency: number;
  readonly taskCallback: ((output: TaskOutput) => void | Promise<void>) | undefined;
  readonly stepCallback: ((step: AgentStep) => void | Promise<void>) | undefined;
  readonly callbackOnReuse: boolean;
  readonly [CREW_BRAND] = true;

  constructor(config: CrewConfig) {
    if (typeof config?.name !== "string" || config.name.trim() === "" || config.name.length > 200) {
      throw new CrewstateError("INVALID_DEFINITION", "a Crew needs a \"name\" of 1-200 characters");
    }
    const where = `crew ${JSON.stringify(config.name)}`;
    const process = config.process ?? "sequential";
    if (process !== "sequential" && process !== "hierarchical") {
      throw new CrewstateError("INVALID_DEFINITION", `${where} has process ${quote(String(config.process))}; supported: "sequential", "hierarchical"`);
    }
    if (process === "sequential" && (config.manager || config.managerModel)) {
      throw new CrewstateError("INVALID_DEFINITION", `${where} has a manager but process "sequential"; set process: "hierarchical"`);
    }
    if (process === "hierarchical" && !(config.agents?.length)) {
      throw new CrewstateError("INVALID_DEFINITION", `${where} is hierarchical but lists no agents for its manager to delegate to`);
    }
    if (!Array.isArray(config.tasks) || config.tasks.length === 0) {
      throw new CrewstateError("INVALID_DEFINITION", `${where} needs at least one task`);
    }
    const maxConcurrency = config.maxConcurrency ?? Number.POSITIVE_INFINITY;
    if (maxConcurrency !== Number.POSITIVE_INFINITY && (!Number.isInteger(maxConcurrency) || maxConcurrency < 1)) {
      throw new CrewstateError("INVALID_DEFINITION", `${where} has maxConcurrency ${String(config.maxConcurrency)}; use a whole number ≥ 1`);
    }
    for (const field of ["taskCallback", "stepCallback"] as const) {
      if (config[field] !== undefined && typeof config[field] !== "function") {
        throw new CrewstateError("INVALID_DEFINITION", `${where} has a ${field} that is not a function (got ${typeOf(config[field])})`);
      }
    }
    const first = config.tasks[0];
    if (isTask(first) && isConditionalTask(first)) {
      throw new CrewstateError(
        "INVALID_DEFINITION",
        `conditional task ${JSON.stringify(first.name)} is the first task of ${where}; a condition needs the output of a task before it`,
        { task: first.name },
      );
    }
    const seen = new Set<Task<unknown>>();
    const names = new Set<string>();
    for (const task of config.tasks) {
      if (!isTask(task)) throw new CrewstateError("INVALID_DEFINITION", `${where} lists something that is not a Task (got ${typeOf(task)})`);
      if (names.has(task.name)) {
        throw new CrewstateError("INVALID_DEFINITION", `${where} has two tasks named ${quote(task.name)}; task names must be unique`, { task: task.name });
      }
      if (!task.agent && process === "sequential") {
        throw new CrewstateError("INVALID_DEFINITION", `task ${quote(task.name)} of ${where} has no agent`, { task: task.name });
      }
      for (const upstream of task.context ?? []) {
        if (!seen.has(upstream)) {
          const why = config.tasks.includes(upstream)
            ? upstream === task
              ? "is the task itself"
              : `comes later in the crew, so it cannot be waited for${upstream.asyncExecution ? " (an async task runs with the tasks after it, not before the tasks before it)" : ""}; list it before ${quote(task.name)}`
            : "is not a task of this crew";
          throw new CrewstateError(
            "INVALID_DEFINITION",
            `task ${quote(task.name)} has ${quote(upstream?.name)} in its context, but that task ${why}`,
            { task: task.name },
          );
        }
      }
      seen.add(task);
      names.add(task.name);
    }
    const agents = [...(config.agents ?? [])];
    for (const task of config.tasks) if (task.agent && !agents.includes(task.agent)) agents.push(task.agent);
    this.name = config.name;
    this.tasks = [...config.tasks];
    this.agents = agents;
    this.process = process;
    this.managerModel = config.managerModel;
    this.manager = process === "hierarchical" ? (config.manager ?? new Agent({ ...DEFAULT_MANAGER, model: config.managerModel })) : undefined;
    this.store = config.store;
    if (config.retention !== undefined) retentionRules(config.retention);
    this.retention = config.retention;
    this.model = config.model;
    this.maxConcurrency = maxConcurrency;
    this.taskCallback = config.taskCallback;
    this.stepCallback = config.stepCallback;
    this.callbackOnReuse = config.callbackOnReuse === true;
  }

  /** Runs the crew, resuming the run if `runId` names one that exists. */
  kickoff(options: KickoffOptions = {}): Promise<KickoffResult> {
    return kickoff(this, options);
  }

  /**
   * Queues a run for the crew's workers (`crewstate worker`), on the queue next to a postgres://
   * or redis:// store. Inputs are checked first; models are resolved by the worker.
   */
  async enqueue(options: { inputs?: Record<string, JsonValue>; runId?: string; store?: string; jobTimeoutMs?: number } = {}): Promise<{ runId: string }> {
    const inputs = { ...(options.inputs ?? {}) };
    await prepareTasks(this, inputs, undefined, { offline: true });
    const runId = options.runId === undefined ? generateRunId(this.name) : checkRunId(options.runId);
    await enqueueRun(this, { runId, inputs }, options.store, { jobTimeoutMs: options.jobTimeoutMs });
    return { runId };
  }
}

/** True for a Crew, even one made by another copy of this package. */
export function isCrew(value: unknown): value is Crew {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[CREW_BRAND] === true;
}
