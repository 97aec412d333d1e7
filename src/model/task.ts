import type { z } from "zod";
import { CrewstateError } from "../errors.js";
import { checkTaskName } from "../stores/codec.js";
import type { Agent } from "./agent.js";

export interface TaskConfig {
  /** Stable name: how a stored result is found again on resume. */
  name: string;
  /** What to do; `{placeholder}`s are filled from the kickoff inputs. */
  description: string;
  /** What a good answer looks like; `{placeholder}`s allowed. */
  expectedOutput: string;
  agent?: Agent;
  /** A zod schema: the answer is then parsed and validated into `structured`. */
  output?: z.ZodType;
  /** The tasks whose outputs this task sees. Default: every earlier task. */
  context?: Task[];
  /** Further attempts after a retryable failure. Default 2. */
  retries?: number;
  /**
   * Hold the run after this task until a person approves its result (`crewstate approve`) or
   * replaces it (`crewstate edit`): the run is `paused` and the next kickoff goes on from there.
   */
  humanReview?: boolean;
}

export class Task {
  readonly name: string;
  readonly description: string;
  readonly expectedOutput: string;
  readonly agent: Agent | undefined;
  readonly output: z.ZodType | undefined;
  readonly context: readonly Task[] | undefined;
  readonly retries: number;
  readonly humanReview: boolean;

  constructor(config: TaskConfig) {
    if (typeof config?.name !== "string") {
      throw new CrewstateError("INVALID_DEFINITION", "a Task needs a \"name\" string");
    }
    checkTaskName(config.name);
    for (const field of ["description", "expectedOutput"] as const) {
      if (typeof config[field] !== "string" || config[field].trim() === "") {
        throw new CrewstateError("INVALID_DEFINITION", `task "${config.name}" needs a non-empty "${field}" string`, { task: config.name });
      }
    }
    const retries = config.retries ?? 2;
    if (!Number.isInteger(retries) || retries < 0) {
      throw new CrewstateError("INVALID_DEFINITION", `task "${config.name}" has retries ${config.retries}; use a whole number ≥ 0`, { task: config.name });
    }
    if (config.context !== undefined && !Array.isArray(config.context)) {
      throw new CrewstateError("INVALID_DEFINITION", `task "${config.name}" has a context that is not a list of tasks`, { task: config.name });
    }
    this.name = config.name;
    this.description = config.description;
    this.expectedOutput = config.expectedOutput;
    this.agent = config.agent;
    this.output = config.output;
    this.context = config.context ? [...config.context] : undefined;
    this.retries = retries;
    this.humanReview = config.humanReview === true;
  }
}
