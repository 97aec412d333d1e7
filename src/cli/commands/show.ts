import { inputText } from "../../model/interpolate.js";
import type { Command } from "commander";
import { requireRun } from "../../engine/operator.js";
import { savedSoFar, spentSoFar } from "../../engine/ledger.js";
import { inCrewOrder, lastPlanned, type PlannedTasks } from "../../engine/planned.js";
import type { TaskRecord } from "../../stores/store.js";
import { parentLine } from "../../runs/lineage.js";
import { oneLine, shortHash, table, terminalWidth, when } from "../format.js";
import { withStore } from "../with-store.js";
import { showFlow } from "./show-flow.js";

export function registerShow(program: Command): void {
  program
    .command("show")
    .description("show a run: its status and every task's record, in the crew's order (a flow run: its step executions, in order)")
    .argument("<run-id>")
    .option("--store <url>", "where state lives")
    .option("--json", "print JSON: { runId, crew, status, tasks: [...] , ... }")
    .option("--wide", "also show attempts, workers and fencing tokens, input hashes and tokens in/out")
    .option("--events", "also list the run's event log")
    .action(async (runId: string, options: { store?: string; json?: boolean; wide?: boolean; events?: boolean }) => {
      await withStore(
        options.store,
        async (store) => {
          const run = await requireRun(store, runId);
          const events = await store.events(runId);
          if (run.kind === "flow") return void process.stdout.write(`${await showFlow(store, run, events, options)}\n`);
          const planned = lastPlanned(events);
          const crew = new Set(planned?.tasks ?? run.tasks.map((t) => t.name));
          const unused = new Set(run.tasks.map((t) => t.name).filter((name) => !crew.has(name)));
          const tasks = inCrewOrder(run.tasks, planned).map((t) => ({ ...t, inCrew: !unused.has(t.name), agent: planned?.agents[t.name] ?? null }));
          const ledger = { spent: await spentSoFar(store, runId, run.tasks.map((t) => t.name), events), saved: savedSoFar(events) };
          if (options.json) {
            const json = { ...run, store: store.location, endpoints: planned?.endpoints ?? {}, tasks, ledger, ...(options.events ? { events } : {}) };
            process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
            return;
          }
          const lines = [
            `run ${run.runId} · crew ${run.crew || "-"} · ${run.status} · kickoff ${run.attempts} · updated ${when(run.updatedAt)}`,
            `state: ${store.location}`,
          ];
          const parent = parentLine(run, events);
          if (parent) lines.push(parent);
          const models = modelsLine(tasks, planned);
          if (models) lines.push(models);
          if (run.error) lines.push(`error: ${oneLine(run.error, 200)}`);
          const inputs = Object.entries(run.inputs);
          if (inputs.length) lines.push(`inputs: ${inputs.map(([k, v]) => `${k}=${oneLine(inputText(v), 40)}`).join(", ")}`);
          lines.push("", options.wide ? wideTable(tasks) : fittedTable(tasks, terminalWidth()));
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
        { runId, readOnly: true },
      );
    });
}

type ShownTask = TaskRecord & { inCrew: boolean; agent: string | null };

/** The models the run's tasks used, each with the host it called. */
function modelsLine(tasks: ShownTask[], planned: PlannedTasks | undefined): string | undefined {
  const ids = [...new Set(tasks.map((t) => t.model).filter((m): m is string => m !== null))];
  if (ids.length === 0) return undefined;
  return `model: ${ids.map((id) => (planned?.endpoints[id] ? `${id} at ${planned.endpoints[id]}` : id)).join(", ")}`;
}

const taskName = (t: ShownTask) => (t.inCrew ? t.name : `${t.name} (not in crew: kept, unused)`);
const cost = (t: ShownTask) => (t.usage?.costUsd != null ? `$${t.usage.costUsd.toFixed(4)}` : "-");
const outputOf = (t: ShownTask, max: number) => (t.status === "failed" ? `error: ${oneLine(t.error, Math.max(1, max - 7))}` : oneLine(t.output, max));

/** Task, status, agent, model, duration, tokens, cost, and as much of the output as the width leaves. */
function fittedTable(tasks: ShownTask[], width: number): string {
  const header = ["TASK", "STATUS", "AGENT", "MODEL", "TIME", "TOKENS", "COST"];
  const rows = tasks.map((t) => [
    taskName(t),
    t.status,
    oneLine(t.agent, 20),
    oneLine(t.model, 24),
    duration(t.startedAt, t.completedAt),
    t.usage ? String(t.usage.inputTokens + t.usage.outputTokens) : "-",
    cost(t),
  ]);
  const used = header.reduce((sum, h, i) => sum + Math.max(h.length, ...rows.map((r) => r[i]!.length)) + 2, 0);
  const room = Math.max(12, width - used);
  return table([...header, "OUTPUT"], rows.map((row, i) => [...row, outputOf(tasks[i]!, room)]));
}

function wideTable(tasks: ShownTask[]): string {
  return table(
    ["TASK", "STATUS", "AGENT", "MODEL", "ATTEMPTS", "WORKER #TOKEN", "INPUT HASH", "STARTED", "COMPLETED", "TOKENS IN/OUT", "COST", "OUTPUT"],
    tasks.map((t) => [
      taskName(t),
      t.status,
      t.agent ?? "-",
      t.model ?? "-",
      String(t.attempts),
      t.worker ? `${t.worker} #${t.fencingToken}${t.leaseExpiresAt ? " (holds)" : ""}` : "-",
      shortHash(t.inputHash),
      when(t.startedAt),
      when(t.completedAt),
      t.usage ? `${t.usage.inputTokens}/${t.usage.outputTokens}` : "-",
      cost(t),
      outputOf(t, 60),
    ]),
  );
}

/** How long a task took, e.g. `850ms`, `12.3s`, `4m05s`; `-` unless it finished. */
function duration(startedAt: string | null, completedAt: string | null): string {
  if (!startedAt || !completedAt) return "-";
  const ms = Date.parse(completedAt) - Date.parse(startedAt);
  if (!Number.isFinite(ms) || ms < 0) return "-";
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}
