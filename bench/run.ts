/**
 * `npm run bench`: what crewstate's persistence costs. A linear chain of N tasks with 1 KiB
 * outputs and a zero-latency model runs on each store; we report the time per task over the
 * memory store (no persistence), the bytes stored, and how long resuming the finished run takes
 * (open + load + plan). Medians of several runs, with min and max. Not part of `npm test`.
 *
 *   npm run bench                    full run, writes docs/benchmarks.md
 *   npm run bench -- --smoke         N = 10, one repetition, nothing written (CI)
 *   npm run bench -- --n 10,100 --stores sqlite,json --reps 3
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { planRun } from "../src/engine/plan-run.js";
import { openStore } from "../src/stores/open.js";
import { chainCrew } from "./chain.js";
import { storeTargets, type StoreTarget } from "./targets.js";
import { journalSection } from "./journal.js";

interface Options {
  sizes: number[];
  reps: number;
  stores: string[] | null;
  smoke: boolean;
}

interface Sample {
  perTaskMs: number;
}

interface Row {
  store: string;
  n: number;
  perTask: Stats;
  overhead: Stats;
  bytes: number;
}

interface Stats {
  median: number;
  min: number;
  max: number;
}

interface ResumeRow {
  store: string;
  n: number;
  planMs: Stats;
  kickoffMs: Stats;
}

function parseArgs(argv: string[]): Options {
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const smoke = argv.includes("--smoke");
  return {
    smoke,
    sizes: (value("--n") ?? (smoke ? "10" : "10,100,1000")).split(",").map(Number),
    reps: Number(value("--reps") ?? (smoke ? 1 : 5)),
    stores: value("--stores")?.split(",") ?? null,
  };
}

function stats(values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)]!, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

async function timeChain(target: StoreTarget, n: number, tag: string): Promise<{ sample: Sample; bytes: number }> {
  const url = await target.prepare(tag);
  const crew = chainCrew(n);
  const store = await openStore(url);
  const start = process.hrtime.bigint();
  await crew.kickoff({ runId: "bench", store });
  const elapsed = Number(process.hrtime.bigint() - start) / 1e6;
  await store.close();
  const bytes = await target.bytes(tag);
  return { sample: { perTaskMs: elapsed / n }, bytes };
}

async function timeResume(target: StoreTarget, n: number, tag: string, reps: number): Promise<ResumeRow> {
  const url = await target.prepare(tag);
  const crew = chainCrew(n);
  const first = await openStore(url);
  await crew.kickoff({ runId: "bench", store: first });
  await first.close();
  const plans: number[] = [];
  const kickoffs: number[] = [];
  for (let i = 0; i < reps; i++) {
    let start = process.hrtime.bigint();
    const store = await openStore(url);
    const plan = await planRun(crew, store, { runId: "bench" });
    plans.push(Number(process.hrtime.bigint() - start) / 1e6);
    if (plan.tasks.some((t) => t.decision.action !== "reuse")) throw new Error(`resume of ${target.name} would rerun tasks`);
    start = process.hrtime.bigint();
    await crew.kickoff({ runId: "bench", store });
    kickoffs.push(Number(process.hrtime.bigint() - start) / 1e6);
    await store.close();
  }
  return { store: target.name, n, planMs: stats(plans), kickoffMs: stats(kickoffs) };
}

const fmt = (ms: number) => (ms < 0.01 ? ms.toFixed(4) : ms < 1 ? ms.toFixed(3) : ms.toFixed(2));
const range = (s: Stats) => `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`;

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const scratch = mkdtempSync(path.join(os.tmpdir(), "crewstate-bench-"));
  const targets = (await storeTargets(scratch)).filter((t) => options.stores === null || t.name === "memory" || options.stores.includes(t.name));
  const rows: Row[] = [];
  const resumes: ResumeRow[] = [];
  try {
    for (const n of options.sizes) {
      const baseline: number[] = [];
      for (const target of targets) {
        const perTask: number[] = [];
        let bytes = 0;
        await timeChain(target, Math.min(n, 10), `warm-${target.name}-${n}`); // JIT and connections warm
        for (let rep = 0; rep < options.reps; rep++) {
          const result = await timeChain(target, n, `${target.name}-${n}-${rep}`);
          perTask.push(result.sample.perTaskMs);
          bytes = result.bytes;
        }
        if (target.name === "memory") baseline.push(...perTask);
        const base = stats(baseline).median;
        const row = { store: target.name, n, perTask: stats(perTask), overhead: stats(perTask.map((v) => v - base)), bytes };
        rows.push(row);
        process.stdout.write(`${target.name.padEnd(8)} N=${String(n).padEnd(5)} per task ${range(row.perTask)} ms · overhead ${range(row.overhead)} ms · ${bytes} bytes\n`);
      }
    }
    const largest = Math.max(...options.sizes);
    for (const target of targets.filter((t) => t.persistent)) {
      const row = await timeResume(target, largest, `${target.name}-resume`, options.reps);
      resumes.push(row);
      process.stdout.write(`${target.name.padEnd(8)} resume N=${largest}: open+load+plan ${range(row.planMs)} ms · kickoff reusing all ${range(row.kickoffMs)} ms\n`);
    }
  } finally {
    for (const target of targets) await target.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  }
  const report = markdown(rows, resumes, options);
  process.stdout.write(`\n${report}`);
  if (!options.smoke) {
    writeFileSync(new URL("../docs/benchmarks.md", import.meta.url), report);
    process.stdout.write("\nwritten to docs/benchmarks.md\n");
  }
  await journalSection(process.argv.slice(2)); // issue 4: journal overhead and crash savings, appended to docs/benchmarks.md unless --smoke
}

function markdown(rows: Row[], resumes: ResumeRow[], options: Options): string {
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  const lines = [
    "# Benchmarks",
    "",
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench\` on ${os.cpus().length} × ${cpu}, Node ${process.version}, ` +
      `${Math.round(os.totalmem() / 2 ** 30)} GiB. Workload: a linear chain of N tasks, each reading the previous task's output, ` +
      "1 KiB outputs, a zero-latency model. Times are the median of " +
      `${options.reps} runs (min–max). *Overhead* is the time per task over the memory store, which persists nothing.`,
    "",
    "## Per-task cost and storage",
    "",
    "| store | N | ms per task | overhead ms per task | bytes stored | bytes per task |",
    "|---|---:|---:|---:|---:|---:|",
    ...rows.map((r) => `| ${r.store} | ${r.n} | ${range(r.perTask)} | ${r.store === "memory" ? "—" : range(r.overhead)} | ${r.bytes} | ${Math.round(r.bytes / r.n)} |`),
    "",
    "## Resume of the completed run",
    "",
    "*open + load + plan*: a new process's cost to open the store, load the run and decide every task (all reused). " +
      "*kickoff*: the same plus one `task_reused` event per task and the run's status commits.",
    "",
    "| store | N | open + load + plan (ms) | kickoff reusing every task (ms) |",
    "|---|---:|---:|---:|",
    ...resumes.map((r) => `| ${r.store} | ${r.n} | ${range(r.planMs)} | ${range(r.kickoffMs)} |`),
    "",
  ];
  return lines.join("\n");
}

await main();
