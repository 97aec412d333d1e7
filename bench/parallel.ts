/**
 * The parallel-tasks section of `npm run bench` (issue 9): a crew of 1 task, then 8 async tasks,
 * then 1 join, on a model that takes a fixed 200 ms per call, run as written and — in the same
 * repetition — with every task made sync, on each store. The critical path is 3 × 200 ms; the
 * target is a parallel wall time within 1.3× of it. Also: store writes per task of the parallel
 * phase, and the slowest commit while 8 tasks commit at once.
 *
 *   node --import tsx bench/parallel.ts [--smoke]   prints the section; `npm run bench` appends it
 *                                                   to docs/benchmarks.md (not with --smoke)
 */
import type { LanguageModelV3 } from "@ai-sdk/provider";
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Agent, Crew, Task } from "../src/index.js";
import { openStore } from "../src/stores/open.js";
import type { Store } from "../src/stores/store.js";
import { instantModel } from "./chain.js";
import { stats, type Stats } from "./peers/system.js";
import { storeTargets } from "./targets.js";

const LATENCY_MS = 200;
const BRANCHES = 8;
const CRITICAL_PATH_MS = 3 * LATENCY_MS;
const TARGET = 1.3;
/** Every store method that writes: each one call is one commit. */
export const WRITES = new Set(["beginRun", "saveTask", "reuseTasks", "setRunStatus", "removeTask", "recordCall", "clearCalls", "claimTask", "heartbeat", "releaseTask", "importRun", "deleteRun", "dropJournals"]);
const COMMITS = new Set(["saveTask", "claimTask"]);

function slowModel(ms: number): LanguageModelV3 {
  const instant = instantModel(256);
  return {
    ...instant,
    modelId: `latency-${ms}`,
    async doGenerate(options) {
      await new Promise((resolve) => setTimeout(resolve, ms));
      return instant.doGenerate(options);
    },
  };
}

function fanOutCrew(parallel: boolean): Crew {
  const agent = new Agent({ role: "Researcher", goal: "Research", backstory: "A benchmark agent.", model: slowModel(LATENCY_MS) });
  const plan = new Task({ name: "plan", description: "Plan the research.", expectedOutput: "a plan", agent });
  const branches = Array.from(
    { length: BRANCHES },
    (_, i) => new Task({ name: `branch_${i}`, description: `Research angle ${i}.`, expectedOutput: "findings", agent, context: [plan], asyncExecution: parallel }),
  );
  const join = new Task({ name: "join", description: "Join the findings.", expectedOutput: "a summary", agent, context: branches });
  return new Crew({ name: "fan-out", tasks: [plan, ...branches, join] });
}

/** The task a store write is for, from its arguments (a name, a record, a call or a lease). */
function taskOf(args: unknown[]): string | undefined {
  for (const arg of args.slice(1)) {
    if (typeof arg === "string") return arg;
    const o = arg as { name?: unknown; task?: unknown } | null;
    if (typeof o?.name === "string") return o.name;
    if (typeof o?.task === "string") return o.task;
  }
  const lease = args[0] as { task?: unknown } | null;
  return typeof lease?.task === "string" ? lease.task : undefined;
}

/**
 * Counts a store's writes (all of them, per method in `byMethod`) for the tasks `counted` picks —
 * default the parallel branches — and times their claims and task commits.
 */
export function meter(store: Store, counted: (task: string | undefined) => boolean = (task) => task?.startsWith("branch_") === true) {
  const counts = { writes: 0, byMethod: {} as Record<string, number> };
  const commitMs: number[] = [];
  const record = store as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  for (const name of WRITES) {
    const method = record[name]!.bind(store);
    record[name] = async (...args: unknown[]) => {
      const branch = counted(taskOf(args));
      const start = performance.now();
      try {
        return await method(...args);
      } finally {
        if (branch) {
          counts.writes += 1;
          counts.byMethod[name] = (counts.byMethod[name] ?? 0) + 1;
          if (COMMITS.has(name)) commitMs.push(performance.now() - start);
        }
      }
    };
  }
  return { counts, commitMs };
}

interface Row {
  store: string;
  parallel: Stats;
  sequential: Stats;
  writesPerTask: number;
  slowestCommit: number;
  medianCommit: number;
}

async function measure(url: string, parallel: boolean, runId: string) {
  const store = await openStore(url);
  const { counts, commitMs } = meter(store);
  try {
    const start = performance.now();
    await fanOutCrew(parallel).kickoff({ runId, store });
    return { ms: performance.now() - start, writes: counts.writes, commitMs };
  } finally {
    await store.close();
  }
}

export async function benchParallel(options: { smoke?: boolean } = {}): Promise<string> {
  const reps = options.smoke ? 1 : 3;
  const scratch = mkdtempSync(path.join(os.tmpdir(), "crewstate-bench-parallel-"));
  // The smoke pass (CI) runs one local and one server store: enough to keep the section from rotting.
  const all = await storeTargets(scratch);
  const targets = all.filter((t) => t.name !== "sqlite-full" && (!options.smoke || t.name === "sqlite" || t.name === "postgres"));
  const rows: Row[] = [];
  try {
    for (const target of targets) {
      const par: number[] = [];
      const seq: number[] = [];
      const commits: number[] = [];
      let writes = 0;
      // Warm-up: JIT, connections (not in the smoke pass, which only keeps the section from rotting).
      if (!options.smoke) {
        await measure(await target.prepare(`${target.name}-warm`), true, "warm");
        await target.discard(`${target.name}-warm`);
      }
      for (let rep = 0; rep < reps; rep++) {
        for (const parallel of rep % 2 === 0 ? [true, false] : [false, true]) {
          const tag = `${target.name}-${parallel ? "par" : "seq"}-${rep}`;
          const sample = await measure(await target.prepare(tag), parallel, "fan-out");
          (parallel ? par : seq).push(sample.ms);
          if (parallel) {
            writes = sample.writes;
            commits.push(...sample.commitMs);
          }
          await target.discard(tag);
        }
      }
      const commitStats = stats(commits);
      const row: Row = { store: target.name, parallel: stats(par), sequential: stats(seq), writesPerTask: writes / BRANCHES, slowestCommit: commitStats.max, medianCommit: commitStats.median };
      rows.push(row);
      process.stdout.write(
        `parallel ${target.name.padEnd(8)} 1+${BRANCHES}+1 tasks at ${LATENCY_MS} ms: ${row.parallel.median.toFixed(0)} ms parallel (${(row.parallel.median / CRITICAL_PATH_MS).toFixed(2)}× the critical path, target ≤ ${TARGET}) · ` +
          `${row.sequential.median.toFixed(0)} ms sequential · ${row.writesPerTask.toFixed(2)} writes per parallel task · commit under ${BRANCHES} writers: median ${row.medianCommit.toFixed(2)} ms, slowest ${row.slowestCommit.toFixed(2)} ms\n`,
      );
    }
  } finally {
    for (const target of all) await target.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  }
  return markdown(rows, reps);
}

function markdown(rows: Row[], reps: number): string {
  return [
    "## Parallel tasks",
    "",
    `A crew of 1 task, ${BRANCHES} async tasks reading it, and 1 join reading them all, on a model that answers each call after ${LATENCY_MS} ms; ` +
      `the same crew with every task sync runs in the same repetition. Median of ${reps} runs each. The critical path is ${CRITICAL_PATH_MS} ms; ` +
      `the target is a parallel wall time ≤ ${TARGET}× that. *Writes per task* counts every store write (claims, commits, journal entries, renewals) ` +
      `made while the parallel phase ran, over its ${BRANCHES} tasks. *Commit* is the time of one claim or task commit while the ${BRANCHES} tasks commit at once.`,
    "",
    "| store | parallel (ms) | ÷ critical path | sequential (ms) | speed-up | writes per parallel task | commit under 8 writers: median / slowest (ms) |",
    "|---|---:|---:|---:|---:|---:|---:|",
    ...rows.map(
      (r) =>
        `| ${r.store} | ${r.parallel.median.toFixed(0)} | ${(r.parallel.median / CRITICAL_PATH_MS).toFixed(2)}× | ${r.sequential.median.toFixed(0)} | ${(r.sequential.median / r.parallel.median).toFixed(1)}× | ${r.writesPerTask.toFixed(2)} | ${r.medianCommit.toFixed(2)} / ${r.slowestCommit.toFixed(2)} |`,
    ),
    "",
  ].join("\n");
}

export async function parallelSection(argv: string[] = process.argv.slice(2)): Promise<string> {
  const smoke = argv.includes("--smoke");
  const section = await benchParallel({ smoke });
  if (!smoke) {
    appendFileSync(fileURLToPath(new URL("../docs/benchmarks.md", import.meta.url)), `\n${section}`);
    process.stdout.write("parallel section appended to docs/benchmarks.md\n");
  }
  return section;
}

if (import.meta.url === `file://${process.argv[1]}`) await parallelSection();
