import type { z } from "zod";
import { CrewstateError } from "../errors.js";
import { checkTaskName } from "../stores/codec.js";
import type { Agent } from "./agent.js";
import type { Guardrail, TaskOutput } from "./task-output.js";

export interface TaskConfig<T = unknown> {
  /** Stable name: how a stored result is found again on resume. */
  name: string;
  /** What to do; `{placeholder}`s are filled from the kickoff inputs. */
  description: string;
  /** What a good answer looks like; `{placeholder}`s allowed. */
  expectedOutput: string;
  agent?: Agent;
  /** A zod schema: the answer is then parsed and validated into `structured`, typed as the schema's output. */
  output?: z.ZodType<T>;
  /** The tasks whose outputs this task sees. Default: every earlier task (an async task: every task before its row). */
  context?: Task<any>[];
  /** Further attempts after a retryable failure. Default 2. */
  retries?: number;
  /**
   * Hold the run after this task until a person approves its result (`crewstate approve`) or
   * replaces it (`crewstate edit`): the run is `paused` and the next kickoff goes on from there.
   */
  humanReview?: boolean;
  /**
   * Run concurrently with the tasks after it (CrewAI's `async_execution`). A task whose context
   * includes it waits for it; the crew's end waits for all. Async tasks in a row run together.
   */
  asyncExecution?: boolean;
  /** Checks each answer; a refusal asks the model again, in the same attempt, with the feedback. */
  guardrail?: Guardrail<T>;
  /** How many refusals the guardrail may give before the task fails. Default 3. */
  guardrailMaxRetries?: number;
  /** A file to write the accepted output to (`{placeholder}`s allowed), atomically, after the result is committed. */
  outputFile?: string;
  /** Called with the accepted output before it is committed; a throw fails the task. */
  callback?: (output: TaskOutput<T>) => void | Promise<void>;
}

const TASK_BRAND = Symbol.for("crewstate.Task");

/** A piece of work for an agent: a description, the expected output, and how its result is checked, saved and shared. */
export class Task<T = unknown> {
  readonly name: string;
  readonly description: string;
  readonly expectedOutput: string;
  readonly agent: Agent | undefined;
  readonly output: z.ZodType<T> | undefined;
  readonly context: readonly Task<any>[] | undefined;
  readonly retries: number;
  readonly humanReview: boolean;
  readonly asyncExecution: boolean;
  readonly guardrail: Guardrail<any> | undefined;
  readonly guardrailMaxRetries: number;
  readonly outputFile: string | undefined;
  readonly callback: ((output: TaskOutput<any>) => void | Promise<void>) | undefined;
  readonly [TASK_BRAND] = true;

  constructor(config: TaskConfig<T>) {
    if (typeof config?.name !== "string") {
      throw new CrewstateError("INVALID_DEFINITION", "a Task needs a \"name\" string");
    }
    checkTaskName(config.name);
    const where = `task ${JSON.stringify(config.name)}`;
    const context = { task: config.name };
    for (const field of ["description", "expectedOutput"] as const) {
      if (typeof config[field] !== "string" || config[field].trim() === "") {
        throw new CrewstateError("INVALID_DEFINITION", `${where} needs a non-empty "${field}" string`, context);
      }
    }
    this.retries = wholeNumber(config.retries, 2, "retries", where);
    this.guardrailMaxRetries = wholeNumber(config.guardrailMaxRetries, 3, "guardrailMaxRetries", where);
    if (config.context !== undefined && !Array.isArray(config.context)) {
      throw new CrewstateError("INVALID_DEFINITION", `${where} has a context that is not a list of tasks`, context);
    }
    for (const field of ["guardrail", "callback"] as const) {
      if (config[field] !== undefined && typeof config[field] !== "function") {
        throw new CrewstateError("INVALID_DEFINITION", `${where} has a ${field} that is not a function (got ${typeOf(config[field])})`, context);
      }
    }
    if (config.asyncExecution !== undefined && typeof config.asyncExecution !== "boolean") {
      throw new CrewstateError("INVALID_DEFINITION", `${where} has asyncExecution ${typeOf(config.asyncExecution)}; use true or false`, context);
    }
    if (config.outputFile !== undefined && (typeof config.outputFile !== "string" || config.outputFile.trim() === "")) {
      throw new CrewstateError("INVALID_DEFINITION", `${where} has an outputFile that is not a non-empty path string`, context);
    }
    this.name = config.name;
    this.description = config.description;
    this.expectedOutput = config.expectedOutput;
    this.agent = config.agent;
    this.output = config.output;
    this.context = config.context ? [...config.context] : undefined;
    this.humanReview = config.humanReview === true;
    this.asyncExecution = config.asyncExecution === true;
    this.guardrail = config.guardrail as Guardrail<any> | undefined;
    this.outputFile = config.outputFile;
    this.callback = config.callback as ((output: TaskOutput<any>) => void | Promise<void>) | undefined;
  }
}

/** True for a Task, even one made by another copy of this package. */
export function isTask(value: unknown): value is Task<unknown> {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[TASK_BRAND] === true;
}

function wholeNumber(value: number | undefined, fallback: number, field: string, where: string): number {
  const n = value ?? fallback;
  if (!Number.isInteger(n) || n < 0) {
    throw new CrewstateError("INVALID_DEFINITION", `${where} has ${field} ${String(value)}; use a whole number ≥ 0`, { field });
  }
  return n;
}

export function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value;
}
