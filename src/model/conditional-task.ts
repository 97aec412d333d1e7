import { CrewstateError } from "../errors.js";
import { Task, typeOf, type TaskConfig } from "./task.js";
import type { TaskOutput } from "./task-output.js";

export interface ConditionalTaskConfig<T = unknown> extends TaskConfig<T> {
  /**
   * Decides from the output of the task just before it whether this task runs. False: the task
   * is recorded `skipped` and makes no model call. The decision is committed and reused while
   * its inputs (the previous output, the condition's source) are unchanged.
   */
  condition: (previous: TaskOutput) => boolean | Promise<boolean>;
}

/** A task that runs only when its condition, given the previous task's output, says so (CrewAI's `ConditionalTask`). */
export class ConditionalTask<T = unknown> extends Task<T> {
  readonly condition: (previous: TaskOutput) => boolean | Promise<boolean>;

  constructor(config: ConditionalTaskConfig<T>) {
    super(config);
    if (typeof config.condition !== "function") {
      throw new CrewstateError(
        "INVALID_DEFINITION",
        `conditional task ${JSON.stringify(this.name)} needs a condition function (got ${typeOf(config.condition)})`,
        { task: this.name },
      );
    }
    this.condition = config.condition;
  }
}

export function isConditionalTask(task: Task<unknown>): task is ConditionalTask<unknown> {
  return task instanceof ConditionalTask || typeof (task as { condition?: unknown }).condition === "function";
}
