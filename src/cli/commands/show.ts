import { inputText } from "../../model/interpolate.js";
import type { Command } from "commander";
import { requireRun } from "../../engine/operator.js";
import { savedSoFar, spentSoFar } from "../../engine/ledger.js";
import type { RunEvent } from "../../stores/store.js";
import { oneLine, shortHash, table, when } from "../format.js";
import { withStore } from "../with-store.js";

export function registerShow(program: Command): void {
  program
    .command("show")
    .description("show a run: its status and every task's record")
    .argument("<run-id>")
    .option("--store <url>", "where state lives")
    .option("--json", "print JSON: { runId, crew, status, tasks: [...] , ... }")
    .option("--events", "also list the run's event log")
    .action(async (runId: string, options: { store?: string; json?: boolean; events?: boolean }) => {
      await withStore(
        options.store,
        async (store) => {
          const run = await requireRun(store, runId);
          const events = await store.events(runId);
          const unused = new Set(orphanedAtLastKickoff(events));
          const tasks = run.tasks.map((t) => ({ ...t, inCrew: !unused.has(t.name) }));
          const ledger = { spent: await spentSoFar(store, runId, run.tasks.map((t) => t.name), events), saved: savedSoFar(events) };
          if (options.json) {
            const json = { ...run, store: store.location, tasks, ledger, ...(options.events ? { events } : {}) };
            process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
            return;
          }
          const lines = [
            `run ${run.runId} · crew ${run.crew || "-"} · ${run.status} · kickoff ${run.attempts} · updated ${when(run.updatedAt)}`,
            `state: ${store.location}`,
          ];
          if (run.error) lines.push(`error: ${oneLine(run.error, 200)}`);
          const inputs = Object.entries(run.inputs);
          if (inputs.length) lines.push(`inputs: ${inputs.map(([k, v]) => `${k}=${oneLine(inputText(v), 40)}`).join(", ")}`);
          lines.push(
            "",
            table(
              ["TASK", "STATUS", "ATTEMPTS", "WORKER #TOKEN", "INPUT HASH", "COMPLETED", "TOKENS IN/OUT", "COST", "OUTPUT"],
              tasks.map((t) => [
                t.inCrew ? t.name : `${t.name} (not in crew: kept, unused)`,
                t.status,
                String(t.attempts),
                t.worker ? `${t.worker} #${t.fencingToken}${t.leaseExpiresAt ? " (holds)" : ""}` : "-",
                shortHash(t.inputHash),
                when(t.completedAt),
                t.usage ? `${t.usage.inputTokens}/${t.usage.outputTokens}` : "-",
                t.usage?.costUsd != null ? `$${t.usage.costUsd.toFixed(4)}` : "-",
                t.status === "failed" ? `error: ${oneLine(t.error, 40)}` : oneLine(t.output, 40),
              ]),
            ),
          );
          const { spent, saved } = ledger;
          lines.push(
            "",
            `spent: ${spent.inputTokens} in / ${spent.outputTokens} out tokens${spent.costUsd !== null ? ` ($${spent.costUsd.toFixed(4)})` : ""}` +
              ` · saved by resuming: ${saved.inputTokens} in / ${saved.outputTokens} out tokens${saved.costUsd !== null ? ` ($${saved.costUsd.toFixed(4)})` : ""}`,
          );
          if (options.events) {
            lines.push("", table(["SEQ", "AT", "EVENT", "TASK"], events.map((e) => [String(e.seq), when(e.at), e.type, e.task ?? ""])));
          }
          process.stdout.write(`${lines.join("\n")}\n`);
        },
        { runId },
      );
    });
}

/** Stored tasks the crew no longer had at its last kickoff, as recorded in its run_planned event. */
function orphanedAtLastKickoff(events: RunEvent[]): string[] {
  for (let i = events.length - 1; i >= 0; i--) {
    const event = events[i]!;
    if (event.type === "run_planned") {
      const orphaned = event.data?.orphaned;
      return Array.isArray(orphaned) ? orphaned.filter((n): n is string => typeof n === "string") : [];
    }
    if (event.type === "run_started") return [];
  }
  return [];
}
