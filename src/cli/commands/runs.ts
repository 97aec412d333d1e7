import type { Command } from "commander";
import { isCrewstateError } from "../../errors.js";
import { lastPlanned } from "../../engine/planned.js";
import { redactUrl } from "../../redact.js";
import { storeUrlFrom } from "../../stores/open.js";
import { oneLine, table, when } from "../format.js";
import { withStore } from "../with-store.js";
import { FLOW_RECORD } from "../../flow/step-record.js";
import type { RunParent } from "../../stores/store.js";

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
            if (summary.kind === "flow") {
              const steps = tasks.filter((t) => t.name !== FLOW_RECORD);
              const flowHolder = tasks.find((t) => t.name === FLOW_RECORD && t.worker && t.leaseExpiresAt && t.leaseExpiresAt > now);
              return { ...summary, taskCount: steps.length, completedCount: steps.filter((t) => t.status === "completed").length, holders: flowHolder ? [`flow@${flowHolder.worker}`] : [] };
            }
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
        const rows = underParents(runs).map(({ run: r, depth }) => [
          `${depth > 0 ? `${"  ".repeat(depth - 1)}└ ` : ""}${r.runId}`,
          `${r.crew || "-"}${r.kind === "flow" ? " (flow)" : ""}`,
          r.status,
          `${r.completedCount}/${r.taskCount}`,
          String(r.attempts),
          when(r.updatedAt),
          r.holders.join(", ") || "-",
          oneLine(r.error, 50),
        ]);
        process.stdout.write(`${table(["RUN ID", "CREW / FLOW", "STATUS", "DONE", "KICKOFFS", "UPDATED", "HELD BY", "ERROR"], rows)}\n`);
      }
    });
}

/** Runs newest first, each child run (a crew a flow step kicked off) right under its parent. */
function underParents<T extends { runId: string; parent: RunParent | null }>(runs: T[]): { run: T; depth: number }[] {
  const ids = new Set(runs.map((r) => r.runId));
  const childrenOf = new Map<string, T[]>();
  for (const run of runs) {
    if (run.parent && ids.has(run.parent.runId)) childrenOf.set(run.parent.runId, [...(childrenOf.get(run.parent.runId) ?? []), run]);
  }
  const out: { run: T; depth: number }[] = [];
  const visit = (run: T, depth: number) => {
    out.push({ run, depth });
    for (const child of [...(childrenOf.get(run.runId) ?? [])].reverse()) visit(child, depth + 1);
  };
  for (const run of runs) if (!run.parent || !ids.has(run.parent.runId)) visit(run, 0);
  return out;
}
