import type { Command } from "commander";
import { invalidateTask } from "../../engine/operator.js";
import { withStore } from "../with-store.js";

export function registerInvalidate(program: Command): void {
  program
    .command("invalidate")
    .description("remove a task's result so the next run of the run ID reruns it (its dependents rerun only if its output changes)")
    .argument("<run-id>")
    .argument("<task>")
    .option("--store <url>", "where state lives")
    .action(async (runId: string, task: string, options: { store?: string }) => {
      await withStore(
        options.store,
        async (store) => {
          const removed = await invalidateTask(store, runId, task);
          process.stdout.write(`invalidated task ${task} of run ${runId} (was ${removed.status}); the next \`crewstate run … --run-id ${runId}\` reruns it\n`);
        },
        { runId },
      );
    });
}
