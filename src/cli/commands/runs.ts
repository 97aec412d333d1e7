import type { Command } from "commander";
import { isCrewstateError } from "../../errors.js";
import { progressOf } from "../../engine/progress.js";
import { redactUrl } from "../../redact.js";
import { storeUrlFrom } from "../../stores/open.js";
import { oneLine, table, when } from "../format.js";
import { withStore } from "../with-store.js";
import { requireRun } from "../../engine/operator.js";
import { isFork, relativesOf } from "../../runs/lineage.js";
import type { RunParent, RunSummary, Store } from "../../stores/store.js";

export function registerRuns(program: Command): void {
  program
    .command("runs")
    .description("list the runs in a store, newest first")
    .option("--store <url>", "where state lives")
    .option("--json", "print JSON")
    .option("--forks-of <run-id>", "list only the forks of this run (runs `crewstate fork` made from it)")
    .action(async (options: { store?: string; json?: boolean; forksOf?: string }) => {
      const url = storeUrlFrom(options.store);
      const forksOf = options.forksOf;
      const runs = await withStore(url, async (store) => {
        const summaries = forksOf === undefined ? await store.listRuns() : await forksOfRun(store, forksOf);
        return Promise.all(
          summaries.map(async (summary) => {
            // Without the key, a sealed run shows what stays readable: its summary's counts.
            const { done, total, holders } = await progressOf(store, summary).catch((error: unknown) => {
              if (isCrewstateError(error, "KEY_REQUIRED") || isCrewstateError(error, "KEY_MISMATCH")) return { done: summary.completedCount, total: summary.taskCount, holders: [] };
              throw error;
            });
            // Who holds a running crew run's tasks (a flow's one claim, whatever its status).
            const shown = summary.kind === "flow" || summary.status === "running" ? holders.map((h) => `${h.task}@${h.worker}`) : [];
            const fork = summary.parent !== null && isFork(await store.events(summary.runId));
            return { ...summary, taskCount: total, completedCount: done, holders: shown, fork };
          }),
        );
      }, { readOnly: true, runId: forksOf }).catch((error: unknown) => {
        if (isCrewstateError(error, "STORE_NOT_FOUND")) return [];
        throw error;
      });
      if (options.json) {
        process.stdout.write(`${JSON.stringify(runs, null, 2)}\n`);
      } else if (runs.length === 0) {
        process.stdout.write(forksOf === undefined ? `no runs in ${redactUrl(url)}\n` : `no forks of run ${forksOf} in ${redactUrl(url)}\n`);
      } else {
        const rows = underParents(runs).map(({ run: r, depth }) => [
          `${depth > 0 ? `${"  ".repeat(depth - 1)}└ ` : ""}${r.runId}`,
          `${r.crew || "-"}${r.kind === "flow" ? " (flow)" : ""}${r.fork ? ` (fork of ${r.parent!.runId}${r.parent!.task ? ` at ${r.parent!.task}` : ""})` : ""}`,
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

/** The forks of a run; RUN_NOT_FOUND when it has none and is not in the store either. */
async function forksOfRun(store: Store, runId: string): Promise<RunSummary[]> {
  const { forks } = await relativesOf(store, runId);
  if (forks.length === 0) await requireRun(store, runId);
  return forks;
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
