import type { Command } from "commander";
import { invalidateTask, requireRun } from "../../engine/operator.js";
import { invalidateStep } from "../../flow/operator.js";
import { withStore } from "../with-store.js";

export function registerInvalidate(program: Command): void {
  program
    .command("invalidate")
    .description("remove a task's result (or a flow step's) so the next run of the run ID reruns it (its dependents rerun only if its output changes)")
    .argument("<run-id>")
    .argument("<task>", "a crew's task; in a flow run, a step (all its executions) or one execution (write#2)")
    .option("--store <url>", "where state lives")
    .action(async (runId: string, task: string, options: { store?: string }) => {
      await withStore(
        options.store,
        async (store) => {
          if ((await requireRun(store, runId)).kind === "flow") {
            const removed = await invalidateStep(store, runId, task);
            const names = removed.map((r) => r.name).join(", ");
            process.stdout.write(`invalidated ${names} of flow run ${runId}; the next \`crewstate run … --run-id ${runId}\` reruns ${removed.length > 1 ? "them" : "it"}\n`);
            return;
          }
          const removed = await invalidateTask(store, runId, task);
          process.stdout.write(`invalidated task ${task} of run ${runId} (was ${removed.status}); the next \`crewstate run … --run-id ${runId}\` reruns it\n`);
        },
        { runId },
      );
    });
}
