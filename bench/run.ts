/**
 * `npm run bench`: what crewstate's persistence costs, side by side with LangGraph.js, DBOS
 * Transact, the tutorial's JSON file and the physical floor. A linear chain of N tasks with 1 KiB
 * outputs and a zero-latency model runs on each system; we report the time per task over the
 * system's own no-persistence baseline, the bytes stored, and how long resuming the finished run
 * takes. Repetitions are interleaved across systems, and each sample is paired with its
 * baseline's sample from the same repetition, so load that drifts during the run hits every
 * system alike and the crewstate / peer ratios stay comparable. Not part of `npm test`.
 *
 *   npm run bench                    full run: writes docs/benchmarks.md and docs/overhead.svg
 *   npm run bench -- --smoke         N = 10, one repetition, every system, nothing written (CI)
 *   npm run bench -- --n 10,100 --stores sqlite,json --peers langgraph,floor --reps 3
 *   npm run bench -- --peers none    crewstate only
 *   npm run bench -- --all           also the slow peer variants at N = 1000 (~15 minutes)
 *
 * Then the sections of bench/journal.ts, workers.ts, parallel.ts, tracing.ts, recovery.ts,
 * lease-race.ts, view.ts, flow.ts, ui.ts, prune.ts, fork.ts and encryption.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { planRun } from "../src/engine/plan-run.js";
import { openStore } from "../src/stores/open.js";
import { chainCrew } from "./chain.js";
import { countCommits } from "./commits.js";
import { overheadChart } from "./peers/chart.js";
import { PEER_FAMILIES, peerSystems, type PeerFamily } from "./peers/index.js";
import { peersMarkdown, type Measured } from "./peers/report.js";
import { collectGarbage, elapsedSince, instrument, stats, type Stats, type System } from "./peers/system.js";
import { storeTargets, type StoreTarget } from "./targets.js";
import { journalSection } from "./journal.js";
import { workersSection } from "./workers.js";
import { parallelSection } from "./parallel.js";
import { tracingSection } from "./tracing.js";
import { recoverySection } from "./recovery.js";
import { leaseRaceSection } from "./lease-race.js";
import { viewSection } from "./view.js";
import { flowSection } from "./flow.js";
import { uiSection } from "./ui.js";
import { pruneSection } from "./prune.js";
import { forkSection } from "./fork.js";
import { encryptionSection } from "./encryption.js";

interface Options {
  sizes: number[];
  /** Repetitions per size; null: the defaults of `repsFor`. */
  reps: number | null;
  stores: string[] | null;
  peers: PeerFamily[];
  smoke: boolean;
  /** Also the slow O(N²) peer variants at N = 1000 (each run 20–45 s): past 10 minutes. */
  all: boolean;
}

interface ResumeRow {
  store: string;
  n: number;
  planMs: Stats;
  kickoffMs: Stats;
  /** Commits the kickoff reusing every task made. */
  commits: number;
}

/** Commits per task of each store's chain run, by `<store> <N>` (the last repetition's). */
const commitsPerTask = new Map<string, { perTask: number; byMethod: Map<string, number> }>();

function parseArgs(argv: string[]): Options {
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const known = new Set(["--smoke", "--all", "--n", "--reps", "--stores", "--peers"]);
  for (const arg of argv) {
    if (arg.startsWith("--") && !known.has(arg)) throw new Error(`bench: unknown option ${arg}; options are ${[...known].join(", ")}`);
  }
  const smoke = argv.includes("--smoke");
  const peers = value("--peers");
  const chosen = peers === undefined ? [...PEER_FAMILIES] : peers === "none" ? [] : peers.split(",");
  for (const p of chosen) {
    if (!(PEER_FAMILIES as readonly string[]).includes(p)) throw new Error(`bench: unknown peer "${p}"; peers are ${PEER_FAMILIES.join(", ")} or none`);
  }
  const reps = value("--reps");
  return {
    smoke,
    sizes: (value("--n") ?? (smoke ? "10" : "10,100,1000")).split(",").map(Number),
    reps: smoke ? 1 : reps === undefined ? null : Number(reps),
    stores: value("--stores")?.split(",") ?? null,
    peers: chosen as PeerFamily[],
    all: argv.includes("--all"),
  };
}

/** Small chains are cheap and noisy, so they get more repetitions; never fewer than 5 in a full run. */
function repsFor(n: number, options: Options): number {
  if (options.reps !== null) return options.reps;
  return n <= 10 ? 9 : 5;
}

/** A crewstate store as a benchmarked system: the chain crew kicked off on fresh state. */
function crewstateSystem(target: StoreTarget): System {
  return {
    id: `crewstate:${target.name}`,
    label: `crewstate ${target.name}`,
    family: "crewstate",
    durability: { memory: "—", sqlite: "process crash", "sqlite-full": "power loss", json: "power loss", postgres: "server crash", redis: "— (no AOF here)" }[target.name] ?? "?",
    baseline: target.persistent ? "crewstate:memory" : undefined,
    async run(n, tag) {
      const url = await target.prepare(tag);
      const crew = chainCrew(n);
      const store = await openStore(url);
      const commits = countCommits(store);
      const meter = instrument(store);
      let ms: number;
      try {
        const start = process.hrtime.bigint();
        await crew.kickoff({ runId: "bench", store });
        ms = elapsedSince(start);
      } finally {
        await store.close();
      }
      commitsPerTask.set(`${target.name} ${n}`, { perTask: commits.total() / n, byMethod: commits.byMethod });
      return { ms, insideMs: meter.ms, steps: n, bytes: await target.bytes(tag) };
    },
    resume: target.persistent
      ? async (n, tag) => {
          const crew = chainCrew(n);
          const start = process.hrtime.bigint();
          const store = await openStore(target.urlOf(tag));
          try {
            const plan = await planRun(crew, store, { runId: "bench" });
            const ms = elapsedSince(start);
            if (plan.tasks.some((t) => t.decision.action !== "reuse")) throw new Error(`resume of ${target.name} would rerun tasks`);
            return ms;
          } finally {
            await store.close();
          }
        }
      : undefined,
    discard: (tag) => target.discard(tag),
    async close() {},
  };
}

/** Repetitions of crewstate's kickoff-reusing-everything measure: seconds each at N = 1000 on the server stores. */
const KICKOFF_REUSE_REPS = 3;

/** crewstate's own extra: a kickoff of the finished run that reuses every task (events and status commits included). */
async function timeKickoffReuse(target: StoreTarget, n: number, tag: string, reps: number): Promise<{ ms: Stats; commits: number }> {
  const crew = chainCrew(n);
  const times: number[] = [];
  let commits = 0;
  for (let i = 0; i < reps; i++) {
    collectGarbage();
    const store = await openStore(target.urlOf(tag));
    const counter = countCommits(store);
    try {
      const start = process.hrtime.bigint();
      const result = await crew.kickoff({ runId: "bench", store });
      times.push(elapsedSince(start));
      if (result.tasks.some((t) => t.outcome !== "reused")) throw new Error(`resume of ${target.name} reran tasks`);
      commits = counter.total();
    } finally {
      await store.close();
    }
  }
  return { ms: stats(times), commits };
}

const fmt = (ms: number) => (Math.abs(ms) < 0.01 ? ms.toFixed(4) : Math.abs(ms) < 1 ? ms.toFixed(3) : ms.toFixed(2));
const range = (s: Stats) => `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`;

/** Seconds each system took, warm-ups, setup and resumes included: where the bench's 10 minutes go. */
const spent = new Map<string, number>();
const charge = (id: string, since: bigint) => spent.set(id, (spent.get(id) ?? 0) + elapsedSince(since) / 1000);

/** Rotates `items` by `k`, so no system always runs right after the same neighbour. */
const rotate = <T>(items: T[], k: number): T[] => (items.length === 0 ? items : [...items.slice(k % items.length), ...items.slice(0, k % items.length)]);

/**
 * Measures every system at size `n`: a warm-up pass at N ≤ 10, then `reps` repetitions, each
 * running every family's baseline first and its other systems after it in rotated order, then
 * the resume of the last repetition's run.
 */
async function measureSize(systems: System[], n: number, reps: number, all: boolean, measured: Measured[]): Promise<Map<string, string>> {
  const active = systems.filter((s) => all || s.upTo === undefined || n <= s.upTo);
  for (const system of active) {
    const since = process.hrtime.bigint();
    await system.run(Math.min(n, 10), `warm-${n}`); // JIT, connections, caches
    await system.discard?.(`warm-${n}`);
    charge(system.id, since);
  }
  const families = [...new Set(active.map((s) => s.family))];
  const perStep = new Map<string, number[]>();
  const inside = new Map<string, number[]>();
  const overhead = new Map<string, number[]>();
  const bytes = new Map<string, number>();
  const steps = new Map<string, number>();
  const lastTag = new Map<string, string>();
  for (let rep = 0; rep < reps; rep++) {
    for (const family of rotate(families, rep)) {
      const members = active.filter((s) => s.family === family);
      const baselines = members.filter((s) => !s.baseline);
      const others = members.filter((s) => s.baseline);
      const repPerStep = new Map<string, number>();
      for (const system of [...baselines, ...rotate(others, rep)]) {
        const tag = `${system.id.replace(/[^a-z0-9]/gi, "-")}-${n}-${rep}`;
        collectGarbage();
        const since = process.hrtime.bigint();
        const sample = await system.run(n, tag);
        const ms = sample.ms / sample.steps;
        repPerStep.set(system.id, ms);
        perStep.set(system.id, [...(perStep.get(system.id) ?? []), ms]);
        if (sample.insideMs !== undefined) inside.set(system.id, [...(inside.get(system.id) ?? []), sample.insideMs / sample.steps]);
        const base = system.baseline ? repPerStep.get(system.baseline) : 0;
        if (base === undefined) throw new Error(`${system.id}: baseline ${system.baseline} did not run`);
        if (system.baseline || system.family === "floor") overhead.set(system.id, [...(overhead.get(system.id) ?? []), ms - base]);
        bytes.set(system.id, sample.bytes);
        steps.set(system.id, sample.steps);
        if (rep < reps - 1) await system.discard?.(tag);
        else lastTag.set(system.id, tag);
        charge(system.id, since);
      }
    }
  }
  for (const system of active) {
    const row: Measured = {
      id: system.id,
      label: system.label,
      family: system.family,
      durability: system.durability,
      baseline: system.baseline,
      n,
      reps,
      perStep: stats(perStep.get(system.id)!),
      overhead: overhead.has(system.id) ? stats(overhead.get(system.id)!) : undefined,
      inside: inside.has(system.id) ? stats(inside.get(system.id)!) : undefined,
      bytes: bytes.get(system.id)!,
      steps: steps.get(system.id)!,
    };
    if (system.resume) {
      const since = process.hrtime.bigint();
      const times: number[] = [];
      for (let i = 0; i < reps; i++) {
        collectGarbage();
        times.push(await system.resume(n, lastTag.get(system.id)!));
      }
      row.resume = stats(times);
      charge(system.id, since);
    }
    measured.push(row);
    process.stdout.write(
      `${system.id.padEnd(24)} N=${String(n).padEnd(5)} per step ${range(row.perStep)} ms · overhead ${row.overhead ? range(row.overhead) : "—"} ms · ` +
        `in persistence calls ${row.inside ? range(row.inside) : "—"} ms · ` +
        `${row.bytes} bytes${row.resume ? ` · resume ${range(row.resume)} ms` : ""}\n`,
    );
  }
  return lastTag;
}

async function main(): Promise<void> {
  const started = process.hrtime.bigint();
  const options = parseArgs(process.argv.slice(2));
  const scratch = mkdtempSync(path.join(os.tmpdir(), "crewstate-bench-"));
  const targets = (await storeTargets(scratch)).filter((t) => options.stores === null || t.name === "memory" || options.stores.includes(t.name));
  const crewstate = targets.map(crewstateSystem);
  let peers: Awaited<ReturnType<typeof peerSystems>> | undefined;
  const measured: Measured[] = [];
  const resumes: ResumeRow[] = [];
  const largest = Math.max(...options.sizes);
  try {
    peers = await peerSystems(scratch, options.peers);
    const systems = [...crewstate, ...peers.systems];
    for (const n of options.sizes) {
      const reps = repsFor(n, options);
      const lastTag = await measureSize(systems, n, reps, options.all, measured);
      if (n === largest) {
        for (const target of targets.filter((t) => t.persistent)) {
          const id = `crewstate:${target.name}`;
          const planMs = measured.find((m) => m.id === id && m.n === n)!.resume!;
          const since = process.hrtime.bigint();
          const kickoff = await timeKickoffReuse(target, n, lastTag.get(id)!, Math.min(reps, KICKOFF_REUSE_REPS));
          charge(`${id} (kickoff reusing all)`, since);
          resumes.push({ store: target.name, n, planMs, kickoffMs: kickoff.ms, commits: kickoff.commits });
          process.stdout.write(`${target.name.padEnd(11)} resume N=${n}: open+load+plan ${range(planMs)} ms · kickoff reusing all ${range(kickoff.ms)} ms in ${kickoff.commits} commit(s)\n`);
        }
      }
      for (const system of systems) {
        const tag = lastTag.get(system.id);
        if (tag) await system.discard?.(tag);
      }
    }
  } finally {
    await peers?.close();
    for (const target of targets) await target.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  }
  const seconds = elapsedSince(started) / 1000;
  const report = `${markdown(measured, resumes, options)}\n${peersMarkdown(measured, { svg: "overhead.svg", seconds, all: options.all })}`;
  process.stdout.write(`\n${report}`);
  if (!options.smoke) {
    writeFileSync(new URL("../docs/benchmarks.md", import.meta.url), report);
    writeFileSync(new URL("../docs/overhead.svg", import.meta.url), overheadChart(measured));
    process.stdout.write("\nwritten to docs/benchmarks.md and docs/overhead.svg\n");
  }
  const byCost = [...spent].sort((a, b) => b[1] - a[1]);
  process.stdout.write(`bench finished in ${seconds.toFixed(0)} s; by system: ${byCost.map(([id, s]) => `${id} ${s.toFixed(1)} s`).join(", ")}\n`);
  await timed("journal", () => journalSection(process.argv.slice(2))); // journal overhead and crash savings, appended to docs/benchmarks.md unless --smoke
  await timed("workers", () => workersSection(process.argv.slice(2))); // many workers vs DBOS queues, appended to docs/benchmarks.md unless --smoke
  await timed("parallel", () => parallelSection(process.argv.slice(2))); // 1 + 8 parallel + 1 tasks vs sequential, appended to docs/benchmarks.md unless --smoke
  await timed("tracing", () => tracingSection(process.argv.slice(2))); // OpenTelemetry spans per task: off, no SDK, SDK, appended to docs/benchmarks.md unless --smoke
  await timed("recovery", () => recoverySection(process.argv.slice(2))); // pickup after a SIGKILL on pg-boss and BullMQ, appended to docs/benchmarks.md unless --smoke
  await timed("leaseRace", () => leaseRaceSection(process.argv.slice(2))); // 8 processes racing on one run vs one, appended to docs/benchmarks.md unless --smoke
  await timed("view", () => viewSection(process.argv.slice(2))); // what the run view and streaming cost, appended to docs/benchmarks.md unless --smoke
  await timed("flow", () => flowSection(process.argv.slice(2))); // a flow of 100 trivial steps vs DBOS and LangGraph.js, appended to docs/benchmarks.md unless --smoke
  await timed("ui", () => uiSection(process.argv.slice(2))); // the dashboard over 10,000 runs and a 1,000-task run, appended to docs/benchmarks.md unless --smoke
  await timed("prune", () => pruneSection(process.argv.slice(2))); // crewstate prune of 10,000 runs on sqlite, appended to docs/benchmarks.md unless --smoke
  await timed("fork", () => forkSection(process.argv.slice(2))); // fork of a finished 1,000-task run on sqlite, and diff, appended to docs/benchmarks.md unless --smoke
  await timed("encryption", () => encryptionSection(process.argv.slice(2))); // sealing values at rest on the 1,000-task SQLite chain, appended to docs/benchmarks.md unless --smoke
}

/** Runs a section and says how long it took, so the bench's minutes can be accounted for. */
async function timed(name: string, section: () => Promise<unknown>): Promise<void> {
  const since = process.hrtime.bigint();
  await section();
  process.stdout.write(`bench section ${name}: ${(elapsedSince(since) / 1000).toFixed(1)} s\n`);
}

function markdown(measured: Measured[], resumes: ResumeRow[], options: Options): string {
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  const rows = measured.filter((m) => m.family === "crewstate");
  const byReps = new Map<number, number[]>();
  for (const n of options.sizes) byReps.set(repsFor(n, options), [...(byReps.get(repsFor(n, options)) ?? []), n]);
  const repsText = [...byReps].map(([reps, sizes]) => `${reps} runs at N = ${sizes.join(", ")}`).join(" and ");
  const lines = [
    "# Benchmarks",
    "",
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench\` on ${os.cpus().length} × ${cpu}, Node ${process.version}, ` +
      `${Math.round(os.totalmem() / 2 ** 30)} GiB. Workload: a linear chain of N tasks, each reading the previous task's output, ` +
      `1 KiB outputs, a zero-latency model. Times are the median of ${repsText} (min–max). *Overhead* is the time per task over ` +
      "the memory store, which persists nothing, paired run by run (each repetition runs the memory store first, then the others). " +
      "*In store calls* is the wall time spent inside the store's methods per task, measured directly and free of the engine's noise: " +
      "minus the memory store's row it estimates the overhead, and on its own it bounds it from above.",
    "",
    "## Per-task cost and storage",
    "",
    "| store | N | ms per task | overhead ms per task | in store calls ms per task | bytes stored | bytes per task |",
    "|---|---:|---:|---:|---:|---:|---:|",
    ...rows.map(
      (r) =>
        `| ${r.id.slice("crewstate:".length)} | ${r.n} | ${range(r.perStep)} | ${r.overhead ? range(r.overhead) : "—"} | ${r.inside ? range(r.inside) : "—"} | ${r.bytes} | ${Math.round(r.bytes / r.n)} |`,
    ),
    "",
    "## Resume of the completed run",
    "",
    "*open + load + plan*: a new handle's cost to open the store, load the run and decide every task (all reused); " +
      `median of ${repsFor(Math.max(...options.sizes), options)} runs. ` +
      `*kickoff*: the same through \`kickoff\`, which records the reuse of every task (one \`tasks_reused\` event) and the run's status; median of ${Math.min(repsFor(Math.max(...options.sizes), options), KICKOFF_REUSE_REPS)} runs. Target: ≤ 20 ms open + load + plan at N = 1000.`,
    "",
    "| store | N | open + load + plan (ms) | kickoff reusing every task (ms) | commits of that kickoff | target (N = 1000: ≤ 20 ms, 1 commit) |",
    "|---|---:|---:|---:|---:|---|",
    ...resumes.map(
      (r) =>
        `| ${r.store} | ${r.n} | ${range(r.planMs)} | ${range(r.kickoffMs)} | ${r.commits} | ${r.n === 1000 ? `${r.planMs.median <= 20 ? "met" : "**missed**"} · ${r.commits === 1 ? "met" : "**missed**"}` : "—"} |`,
    ),
    "",
    "## Store commits per task",
    "",
    "Each call of a writing store method (begin, save, reuse, status, claim, journal entry, heartbeat…) is one commit: one transaction, statement, Lua script or appended line. " +
      "On a chain, a task's result carries the next task's claim and the last result the run's status; the target is ≤ 1.05 at N = 1000.",
    "",
    "| store | N | commits per task | by method | target (N = 1000: ≤ 1.05) |",
    "|---|---:|---:|---|---|",
    ...[...commitsPerTask].map(([key, c]) => {
      const [store, n] = key.split(" ");
      const verdict = n === "1000" && store !== "memory" ? (c.perTask <= 1.05 ? "met" : "**missed**") : "—";
      return `| ${store} | ${n} | ${c.perTask.toFixed(3)} | ${[...c.byMethod].map(([m, k]) => `${m} ${k}`).join(", ")} | ${verdict} |`;
    }),
    "",
  ];
  return lines.join("\n");
}

await main();
