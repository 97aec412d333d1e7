/**
 * The flow section of `npm run bench` (issue 10): what a flow's durability costs per step. A flow
 * of N = 100 trivial steps in a line (`flow.start("s0", …)`, `flow.listen("s1", s0, …)`, …, each
 * `state.n += 1; return state.n`) is kicked off on fresh state on each store, side by side in the
 * same repetitions with the same steps as a DBOS Transact workflow of N `DBOS.runStep`s on the
 * local PostgreSQL and as a LangGraph.js StateGraph of N nodes in a line (one value channel) with
 * its SqliteSaver — the peers driven by the chain bench's own modules (`bench/peers/`) with the
 * counter as their step's work.
 *
 * Each system's overhead per step is its time per step minus its baseline's in the same
 * repetition: crewstate's and DBOS's baseline is the same N steps as plain awaited function calls
 * (DBOS has no mode without checkpoints), LangGraph's the same graph compiled without a
 * checkpointer. Repetitions are interleaved across systems in rotated order, as the chain bench's
 * are; medians are reported. Commits: every store write counted (the parallel section's meter),
 * per step as total ÷ N and as the marginal (commits(N) − commits(1)) ÷ (N − 1), since each kickoff
 * has a fixed cost of a few commits. Targets: ≤ 1 commit per step, and an overhead per step at
 * least 4× below DBOS's and LangGraph's.
 *
 *   node --import tsx bench/flow.ts [--smoke] [--flow-n 100] [--flow-reps 5] [--peers …] [--stores …]
 * prints the section; `npm run bench` appends it to docs/benchmarks.md (not with --smoke).
 */
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { Flow, type Step } from "../src/index.js";
import { openStore } from "../src/stores/open.js";
import { meter } from "./parallel.js";
import { PEER_FAMILIES } from "./peers/index.js";
import { collectGarbage, elapsedSince, instrument, stats, type Stats, type System } from "./peers/system.js";
import { counterWork } from "./peers/workload.js";
import { PG_URL, storeTargets, type StoreTarget } from "./targets.js";

const TARGET_RATIO = 4;
const TARGET_COMMITS = 1;
const WARM_UPS = 2;
/** LangGraph variants measured: the shipped SqliteSaver (synchronous=FULL) and the one at crewstate's default durability. */
const LANGGRAPH = new Set(["langgraph:none", "langgraph:sqlite", "langgraph:sqlite-normal"]);
const DBOS = new Set(["dbos:none", "dbos:postgres"]);

export interface FlowBenchOptions {
  /** Steps in the line. Default 100; 5 with `smoke`. */
  n?: number;
  /** Repetitions. Default 5; 1 with `smoke`. */
  reps?: number;
  smoke?: boolean;
  /** Peer families to run beside crewstate (`langgraph`, `dbos`); default both. */
  peers?: string[];
  /** crewstate stores besides memory; default all but sqlite-full and json (a flow's commits are the chain's). */
  stores?: string[];
}

const State = z.object({ n: z.number().default(0) });
type Counter = z.infer<typeof State>;

/** The trivial step every system runs. */
const bump = (state: Counter): number => {
  state.n += 1;
  return state.n;
};

const flows = new Map<number, Flow<typeof State>>();

/** A flow of `n` steps in a line: s0 starts, s(i) listens to s(i−1). */
export function lineFlow(n: number): Flow<typeof State> {
  let flow = flows.get(n);
  if (!flow) {
    flow = new Flow({ name: `line-${n}`, state: State, maxSteps: n + 1 });
    let previous: Step<number> = flow.start("s0", (state) => bump(state));
    for (let i = 1; i < n; i++) previous = flow.listen(`s${i}`, previous, (state) => bump(state));
    flows.set(n, flow);
  }
  return flow;
}

/** The same `n` steps as plain awaited calls on one state: the baseline of crewstate (and DBOS's, which is this loop too). */
async function plainLine(n: number): Promise<number> {
  const state: Counter = { n: 0 };
  let last = 0;
  for (let i = 0; i < n; i++) last = await (async () => bump(state))();
  return last;
}

interface Commits {
  total: number;
  byMethod: Record<string, number>;
}

/** A crewstate store running the line flow; `commits` keeps the last run's count of store writes. */
function flowSystem(target: StoreTarget, commits: Map<string, Commits>): System {
  const id = `crewstate:${target.name}`;
  return {
    id,
    label: `crewstate flow, ${target.name} store`,
    family: "crewstate",
    durability: { memory: "—", sqlite: "process crash", postgres: "server crash", redis: "— (no AOF here)" }[target.name] ?? "?",
    baseline: "crewstate:plain",
    async run(n, tag) {
      const store = await openStore(await target.prepare(tag));
      const counts = meter(store, () => true).counts;
      const inside = instrument(store);
      let ms: number;
      try {
        const start = process.hrtime.bigint();
        const result = await lineFlow(n).kickoff({ runId: "bench", store });
        ms = elapsedSince(start);
        if (result.status !== "completed" || (result.state as Counter).n !== n || result.steps.some((s) => s.outcome !== "ran")) throw new Error(`${id}: the flow of ${n} steps did not run every step once`);
      } finally {
        await store.close();
      }
      commits.set(`${id}@${n}`, { total: counts.writes, byMethod: { ...counts.byMethod } });
      return { ms, insideMs: inside.ms, steps: n, bytes: await target.bytes(tag) };
    },
    discard: (tag) => target.discard(tag),
    async close() {},
  };
}

const plainSystem: System = {
  id: "crewstate:plain",
  label: "plain calls (no flow, nothing persisted)",
  family: "crewstate",
  durability: "—",
  async run(n) {
    const start = process.hrtime.bigint();
    const last = await plainLine(n);
    const ms = elapsedSince(start);
    if (last !== n) throw new Error("the plain line returned the wrong count");
    return { ms, steps: n, bytes: 0 };
  },
  async close() {},
};

/** Rotates `items` by `k`, so no system always runs right after the same neighbour. */
const rotate = <T>(items: T[], k: number): T[] => (items.length === 0 ? items : [...items.slice(k % items.length), ...items.slice(0, k % items.length)]);

interface Row {
  id: string;
  label: string;
  family: string;
  durability: string;
  baseline?: string;
  perStep: Stats;
  overhead?: Stats;
  inside?: Stats;
  commits?: { total: number; perStep: number; marginal: number; byMethod: Record<string, number> };
}

export async function benchFlow(options: FlowBenchOptions = {}): Promise<{ markdown: string; rows: Row[] }> {
  const started = process.hrtime.bigint();
  const n = options.n ?? (options.smoke ? 5 : 100);
  const reps = options.reps ?? (options.smoke ? 1 : 5);
  const peers = options.peers ?? ["langgraph", "dbos"];
  const scratch = mkdtempSync(path.join(os.tmpdir(), "crewstate-bench-flow-"));
  const wanted = options.stores ?? ["sqlite", "postgres", "redis"];
  const targets = (await storeTargets(scratch)).filter((t) => t.name === "memory" || wanted.includes(t.name));
  const commits = new Map<string, Commits>();
  const systems: System[] = [plainSystem, ...targets.map((t) => flowSystem(t, commits))];
  const closers: Array<() => Promise<void>> = [];
  const rows: Row[] = [];
  try {
    const admin = peers.length > 0 ? await connect() : undefined;
    if (admin) closers.push(() => admin.end());
    if (peers.includes("langgraph")) {
      const { langgraphSystems } = await import("./peers/langgraph.js");
      systems.push(...langgraphSystems(scratch, undefined, undefined, counterWork).filter((s) => LANGGRAPH.has(s.id)));
    }
    if (peers.includes("dbos") && admin) {
      const { dbosSystems } = await import("./peers/dbos.js");
      const dbos = await dbosSystems(PG_URL, admin, counterWork);
      closers.unshift(async () => {
        for (const s of dbos) await s.close();
      });
      systems.push(...dbos.filter((s) => DBOS.has(s.id)));
    }
    // Warm-up at the measured size, twice: a kickoff of 100 steps is short enough that the
    // engine's code is still being optimized in the first few, for every system alike.
    for (let i = 0; i < WARM_UPS; i++) {
      for (const system of systems) {
        await system.run(n, "warm"); // JIT, connections, caches
        await system.discard?.("warm");
      }
    }
    // Commits of a one-step kickoff: the fixed cost the marginal count takes off.
    for (const system of systems.filter((s) => s.id.startsWith("crewstate:") && s.baseline)) {
      await system.run(1, "one");
      await system.discard?.("one");
    }
    const families = [...new Set(systems.map((s) => s.family))];
    const perStep = new Map<string, number[]>();
    const overhead = new Map<string, number[]>();
    const inside = new Map<string, number[]>();
    const push = (map: Map<string, number[]>, id: string, value: number) => map.set(id, [...(map.get(id) ?? []), value]);
    for (let rep = 0; rep < reps; rep++) {
      for (const family of rotate(families, rep)) {
        const members = systems.filter((s) => s.family === family);
        const repPerStep = new Map<string, number>();
        for (const system of [...members.filter((s) => !s.baseline), ...rotate(members.filter((s) => s.baseline), rep)]) {
          const tag = `${system.id.replace(/[^a-z0-9]/gi, "-")}-${rep}`;
          collectGarbage();
          const sample = await system.run(n, tag);
          await system.discard?.(tag);
          const ms = sample.ms / sample.steps;
          repPerStep.set(system.id, ms);
          push(perStep, system.id, ms);
          if (sample.insideMs !== undefined) push(inside, system.id, sample.insideMs / sample.steps);
          if (system.baseline) push(overhead, system.id, ms - repPerStep.get(system.baseline)!);
        }
      }
    }
    for (const system of systems) {
      const at = (k: number) => commits.get(`${system.id}@${k}`);
      const total = at(n);
      const one = at(1);
      rows.push({
        id: system.id,
        label: system.label,
        family: system.family,
        durability: system.durability,
        baseline: system.baseline,
        perStep: stats(perStep.get(system.id)!),
        overhead: overhead.has(system.id) ? stats(overhead.get(system.id)!) : undefined,
        inside: inside.has(system.id) ? stats(inside.get(system.id)!) : undefined,
        commits: total && one ? { total: total.total, perStep: total.total / n, marginal: n > 1 ? (total.total - one.total) / (n - 1) : Number.NaN, byMethod: total.byMethod } : undefined,
      });
    }
  } finally {
    for (const close of closers) await close();
    for (const target of targets) await target.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  }
  const seconds = elapsedSince(started) / 1000;
  for (const row of rows) {
    process.stdout.write(
      `flow ${row.id.padEnd(24)} N=${n}: ${fmt(row.perStep.median)} ms per step · overhead ${row.overhead ? range(row.overhead) : "—"} ms · ` +
        `in store calls ${row.inside ? fmt(row.inside.median) : "—"} ms` +
        (row.commits ? ` · ${row.commits.total} commits: ${row.commits.perStep.toFixed(2)} per step, marginal ${row.commits.marginal.toFixed(2)} (target ≤ ${TARGET_COMMITS})` : "") +
        "\n",
    );
  }
  for (const line of ratioLines(rows)) process.stdout.write(`flow ${line.text}\n`);
  return { markdown: markdown(rows, n, reps, seconds), rows };
}

async function connect() {
  const { default: pg } = await import("pg");
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    return client;
  } catch (error) {
    process.stderr.write(`bench flow: PostgreSQL at ${PG_URL} not reachable, DBOS skipped (${(error as Error).message})\n`);
    return undefined;
  }
}

const fmt = (ms: number) => (Math.abs(ms) < 0.01 ? ms.toFixed(4) : Math.abs(ms) < 1 ? ms.toFixed(3) : ms.toFixed(2));
const range = (s: Stats) => `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`;

/** Peer overhead ÷ crewstate overhead: the brief's pairs (crewstate on memory) and the like-for-like ones (same database, same durability). */
function ratioLines(rows: Row[]): Array<{ crewstate: string; peer: string; ratio: number; text: string }> {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const pairs: Array<[string, string]> = [
    ["crewstate:memory", "dbos:postgres"],
    ["crewstate:memory", "langgraph:sqlite"],
    ["crewstate:postgres", "dbos:postgres"],
    ["crewstate:sqlite", "langgraph:sqlite"],
    ["crewstate:sqlite", "langgraph:sqlite-normal"],
  ];
  const lines = [];
  for (const [ours, theirs] of pairs) {
    const a = byId.get(ours)?.overhead?.median;
    const b = byId.get(theirs)?.overhead?.median;
    if (a === undefined || b === undefined) continue;
    const ratio = b / a;
    lines.push({ crewstate: ours, peer: theirs, ratio, text: `${theirs} ÷ ${ours} overhead per step: ${ratio.toFixed(1)}× (target ≥ ${TARGET_RATIO}×: ${ratio >= TARGET_RATIO ? "met" : "missed"})` });
  }
  return lines;
}

function markdown(rows: Row[], n: number, reps: number, seconds: number): string {
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  const alone = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1]);
  const commitRows = rows.filter((r) => r.commits);
  const worstMarginal = Math.max(...commitRows.map((r) => r.commits!.marginal));
  const methods = commitRows[0]?.commits?.byMethod ?? {};
  return [
    "## Flows: overhead per step",
    "",
    `Measured ${new Date().toISOString().slice(0, 10)} with ${alone ? "`node --import tsx bench/flow.ts` (this section alone)" : "`npm run bench`"} on ${os.cpus().length} × ${cpu}, Node ${process.version}. ` +
      `A flow of ${n} trivial steps in a line (\`flow.start("s0", …)\`, then \`flow.listen("s<i>", s<i−1>, …)\`, each \`state.n += 1; return state.n\`), kicked off on fresh state; ` +
      `beside it in the same repetitions, the same ${n} steps as a DBOS Transact workflow of \`DBOS.runStep\`s on the local PostgreSQL, and as a LangGraph.js StateGraph of ${n} nodes in a line ` +
      "(one value channel, each node adding 1) with its SqliteSaver as shipped (`synchronous=FULL`) and at crewstate's default durability (`synchronous=NORMAL`). " +
      `Median of ${reps} repetitions (min–max), interleaved across systems in rotated order. *Overhead* is the time per step over the system's own baseline in the same repetition: ` +
      `for crewstate and DBOS the same ${n} steps as plain awaited function calls (DBOS has no mode without checkpoints), for LangGraph.js the same graph compiled without a checkpointer. ` +
      "It includes the kickoff's fixed costs spread over the steps (crewstate: open run, claim, final record, run status). *In store calls*: wall time inside the store's (checkpointer's) methods per step. " +
      `*Commits*: every store write of one kickoff, counted; per step as total ÷ ${n} and marginal, (commits at N = ${n} − commits at N = 1) ÷ ${n - 1}. ` +
      `Targets: ≤ ${TARGET_COMMITS} commit per step, and an overhead per step at least ${TARGET_RATIO}× below DBOS's and LangGraph.js's. Section measured in ${seconds.toFixed(0)} s.`,
    "",
    "| system | durability | ms per step | overhead ms per step | in store calls ms per step | commits per kickoff | per step | marginal per step |",
    "|---|---|---:|---:|---:|---:|---:|---:|",
    ...rows.map(
      (r) =>
        `| ${r.label} | ${r.durability} | ${range(r.perStep)} | ${r.overhead ? range(r.overhead) : "baseline"} | ${r.inside ? fmt(r.inside.median) : "—"} | ` +
        (r.commits ? `${r.commits.total} | ${r.commits.perStep.toFixed(2)} | ${r.commits.marginal.toFixed(2)} |` : "— | — | — |"),
    ),
    "",
    `Commits of one kickoff by store method: ${Object.entries(methods)
      .map(([m, k]) => `\`${m}\` ${k}`)
      .join(", ")} — one \`saveTask\` per step, and the kickoff's own. Marginal commits per step: ${worstMarginal.toFixed(2)} at most (target ≤ ${TARGET_COMMITS}: ${worstMarginal <= TARGET_COMMITS ? "met" : "missed"}).`,
    "",
    "| peer overhead ÷ crewstate overhead | ratio | target ≥ 4× |",
    "|---|---:|---|",
    ...ratioLines(rows).map((l) => `| ${l.peer} ÷ ${l.crewstate} | ${l.ratio.toFixed(1)}× | ${l.ratio >= TARGET_RATIO ? "met" : "missed"} |`),
    "",
  ].join("\n");
}

/** The section's options from the command line: `--smoke`, `--peers`, `--stores` as the chain bench reads them, and flags of its own. */
function optionsFrom(argv: string[]): FlowBenchOptions {
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const num = (flag: string) => (value(flag) === undefined ? undefined : Number(value(flag)));
  const peers = value("--peers");
  return {
    smoke: argv.includes("--smoke"),
    n: num("--flow-n"),
    reps: num("--flow-reps"),
    peers: peers === undefined ? undefined : peers === "none" ? [] : peers.split(",").filter((p) => (PEER_FAMILIES as readonly string[]).includes(p)),
    stores: value("--stores")?.split(","),
  };
}

/** For `bench/run.ts`: measures, prints, and unless `--smoke` appends the section to docs/benchmarks.md. */
export async function flowSection(argv: string[] = process.argv.slice(2)): Promise<string> {
  const options = optionsFrom(argv);
  const { markdown: section } = await benchFlow(options);
  if (!options.smoke) {
    appendFileSync(fileURLToPath(new URL("../docs/benchmarks.md", import.meta.url)), `\n${section}`);
    process.stdout.write("flow section appended to docs/benchmarks.md\n");
  }
  return section;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) await flowSection();
