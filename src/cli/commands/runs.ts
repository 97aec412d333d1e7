import type { Command } from "commander";
import { isCrewstateError } from "../../errors.js";
import { lastPlanned } from "../../engine/planned.js";
import { redactUrl } from "../../redact.js";
import { storeUrlFrom } from "../../stores/open.js";
import { oneLine, table, when } from "../format.js";
import { withStore } from "../with-store.js";

export function registerRuns(program: Command): void {
  program
    .command("runs")
    .description("list the runs in a store, newest first")
    .option("--store <url>", "where state lives")
    .option("--json", "print JSON")
    .action(async (options: { store?: string; json?: boolean }) => {
      const url = storeUrlFrom(options.store);
      const runs = await withStore(url, async (store) => {
        const summaries = await store.listRuns();
        // Which workers hold leases on a running run's tasks, and on which.
        const now = new Date().toISOString();
        return Promise.all(
          summaries.map(async (summary) => {
            const [run, events] = await Promise.all([store.getRun(summary.runId), store.events(summary.runId)]);
            const tasks = run?.tasks ?? [];
            const holders =
              summary.status === "running" ? tasks.filter((t) => t.worker && t.leaseExpiresAt && t.leaseExpiresAt > now).map((t) => `${t.name}@${t.worker}`) : [];
            // Done of the crew's tasks as its last kickoff planned them, not of the tasks stored so far.
            const planned = lastPlanned(events)?.tasks;
            if (!planned) return { ...summary, holders };
            const crew = new Set(planned);
            const completedCount = tasks.filter((t) => crew.has(t.name) && (t.status === "completed" || t.status === "skipped")).length;
            return { ...summary, taskCount: planned.length, completedCount, holders };
          }),
        );
      }, { readOnly: true }).catch((error: unknown) => {
        if (isCrewstateError(error, "STORE_NOT_FOUND")) return [];
        throw error;
      });
      if (options.json) {
        process.stdout.write(`${JSON.stringify(runs, null, 2)}\n`);
      } else if (runs.length === 0) {
        process.stdout.write(`no runs in ${redactUrl(url)}\n`);
      } else {
        const rows = runs.map((r) => [
          r.runId,
          r.crew || "-",
          r.status,
          `${r.completedCount}/${r.taskCount}`,
          String(r.attempts),
          when(r.updatedAt),
          r.holders.join(", ") || "-",
          oneLine(r.error, 50),
        ]);
        process.stdout.write(`${table(["RUN ID", "CREW", "STATUS", "DONE", "KICKOFFS", "UPDATED", "HELD BY", "ERROR"], rows)}\n`);
      }
    });
}
