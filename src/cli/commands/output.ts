import type { Command } from "commander";
import { requireRun, requireTask } from "../../engine/operator.js";
import { CrewstateError, quote } from "../../errors.js";
import { withStore } from "../with-store.js";

export function registerOutput(program: Command): void {
  program
    .command("output")
    .description("print a completed task's output")
    .argument("<run-id>")
    .argument("<task>")
    .option("--store <url>", "where state lives")
    .option("--json", "print the structured output (JSON) instead of the text")
    .action(async (runId: string, taskName: string, options: { store?: string; json?: boolean }) => {
      await withStore(
        options.store,
        async (store) => {
          const task = requireTask(await requireRun(store, runId), taskName, store);
          if (task.status !== "completed" || task.output === null) {
            throw new CrewstateError(
              "TASK_NOT_FOUND",
              `task ${quote(taskName)} of run ${quote(runId)} has no output: it is ${task.status}${task.error ? ` (${task.error})` : ""}`,
              { runId, task: taskName },
            );
          }
          const text = options.json ? JSON.stringify(task.structured, null, 2) : task.output;
          process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
        },
        { runId, readOnly: true },
      );
    });
}
