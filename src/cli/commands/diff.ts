import type { Command } from "commander";
import { diffStoredRuns } from "../../runs/diff-stored.js";
import type { TaskDiff } from "../../runs/diff.js";
import type { TokenUsage } from "../../stores/store.js";
import { table } from "../format.js";
import { withStore } from "../with-store.js";

export function registerDiff(program: Command): void {
  program
    .command("diff")
    .description("compare two runs task by task: input hashes (and which parts changed), outputs (as a unified diff), tokens and cost; exits 0 whenever both runs exist")
    .argument("<run-a>")
    .argument("<run-b>")
    .option("--store <url>", "where state lives")
    .option("--json", "print JSON: { a, b, inputsChanged, tasks: [...], differing }")
    .action(async (runA: string, runB: string, options: { store?: string; json?: boolean }) => {
      const diff = await withStore(options.store, (store) => diffStoredRuns(store, runA, runB), { runId: runA, readOnly: true });
      if (options.json) return void process.stdout.write(`${JSON.stringify(diff, null, 2)}\n`);
      const lines = [`diff of run ${diff.a.runId} (a) and run ${diff.b.runId} (b) · ${diff.a.crew || "-"}${diff.b.crew !== diff.a.crew ? ` / ${diff.b.crew || "-"}` : ""}`];
      if (diff.inputsChanged.length > 0) lines.push(`inputs changed: ${diff.inputsChanged.join(", ")}`);
      lines.push(
        "",
        table(
          ["TASK", "INPUT HASH", "OUTPUT", "TOKENS a → b", "COST a → b"],
          diff.tasks.map((t) => [t.name, hashCell(t), outputCell(t), `${tokens(t.usage.a)} → ${tokens(t.usage.b)}`, `${cost(t.usage.a)} → ${cost(t.usage.b)}`]),
        ),
      );
      for (const task of diff.tasks) if (task.output.diff !== "") lines.push("", task.output.diff);
      lines.push("", diff.differing.length === 0 ? "the runs hold the same results" : `${diff.differing.length} of ${diff.tasks.length} task(s) differ: ${diff.differing.join(", ")}`);
      process.stdout.write(`${lines.join("\n")}\n`);
    });
}

function hashCell(t: TaskDiff): string {
  if (t.in !== "both") return `only in ${t.in}`;
  if (t.inputHash.same) return "same";
  return `differs: ${t.inputHash.changed.join(", ") || "unknown parts"}`;
}

function outputCell(t: TaskDiff): string {
  if (t.in !== "both") return `${t.status[t.in]}`;
  const status = t.status.a === t.status.b ? "" : ` (${t.status.a} → ${t.status.b})`;
  return `${t.output.same ? "same" : "differs"}${status}`;
}

const tokens = (usage: TokenUsage | null) => (usage ? String(usage.inputTokens + usage.outputTokens) : "-");
const cost = (usage: TokenUsage | null) => (usage?.costUsd != null ? `$${usage.costUsd.toFixed(4)}` : "-");
