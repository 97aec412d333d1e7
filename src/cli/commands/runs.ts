import type { Command } from "commander";
import { oneLine, table, when } from "../format.js";
import { withStore } from "../with-store.js";

export function registerRuns(program: Command): void {
  program
    .command("runs")
    .description("list the runs in a store, newest first")
    .option("--store <url>", "where state lives")
    .option("--json", "print JSON")
    .action(async (options: { store?: string; json?: boolean }) => {
      await withStore(options.store, async (store) => {
        const runs = await store.listRuns();
        if (options.json) {
          process.stdout.write(`${JSON.stringify(runs, null, 2)}\n`);
          return;
        }
        if (runs.length === 0) {
          process.stdout.write(`no runs in ${store.location}\n`);
          return;
        }
        const rows = runs.map((r) => [r.runId, r.crew || "-", r.status, `${r.completedCount}/${r.taskCount}`, String(r.attempts), when(r.updatedAt), oneLine(r.error, 50)]);
        process.stdout.write(`${table(["RUN ID", "CREW", "STATUS", "DONE", "KICKOFFS", "UPDATED", "ERROR"], rows)}\n`);
      });
    });
}
