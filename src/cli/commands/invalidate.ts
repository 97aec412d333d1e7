import type { Command } from "commander";
import { invalidate } from "../../flow/operator.js";
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
          const { kind, removed } = await invalidate(store, runId, task);
          const next = `the next \`crewstate run … --run-id ${runId}\` reruns`;
          if (kind === "flow") {
            process.stdout.write(`invalidated ${removed.map((r) => r.name).join(", ")} of flow run ${runId}; ${next} ${removed.length > 1 ? "them" : "it"}\n`);
          } else {
            process.stdout.write(`invalidated task ${task} of run ${runId} (was ${removed[0]!.status}); ${next} it\n`);
          }
        },
        { runId },
      );
    });
}
