/**
 * The run-view section of `npm run bench`: what watching a run costs. A chain of N tasks (1,000;
 * 100 with --smoke) on a zero-latency model and the default store (SQLite), run in the same
 * process, repetitions interleaved: without a view, with the live view on an emulated terminal
 * (a stream with isTTY, 120 × 40, its bytes discarded), with the plain lines a pipe gets, and
 * streamed (`--stream` on the emulated terminal). Target: the view costs ≤ 5 % of the per-task
 * time. Also: store writes per model call with and without streaming, which must be equal.
 *
 *   node --import tsx bench/view.ts [--smoke]   prints the section; `npm run bench` appends it
 *                                               to docs/benchmarks.md (not with --smoke)
 */
import type { LanguageModelV3, LanguageModelV3StreamPart } from "@ai-sdk/provider";
import { simulateReadableStream } from "ai";
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { LiveView } from "../src/cli/view/live-view.js";
import { createRunView } from "../src/cli/view/run-view.js";
import type { RunObserver } from "../src/engine/observer.js";
import { openStore } from "../src/stores/open.js";
import type { Store } from "../src/stores/store.js";
import { chainCrew, instantModel } from "./chain.js";
import { stats, type Stats } from "./peers/system.js";

const TARGET = 0.05;
const WRITES = ["beginRun", "saveTask", "setRunStatus", "removeTask", "recordCall", "clearCalls", "claimTask", "heartbeat", "releaseTask", "importRun", "deleteRun", "dropJournals"];

/** The bench's instant model, also answering as a stream: its 1 KiB answer in 16 text deltas. */
function instantStreamingModel(): LanguageModelV3 {
  const instant = instantModel();
  return {
    ...instant,
    async doStream(options) {
      const result = await instant.doGenerate(options);
      const text = result.content.map((part) => (part.type === "text" ? part.text : "")).join("");
      const pieces = text.match(/[\s\S]{1,64}/g) ?? [];
      const chunks: LanguageModelV3StreamPart[] = [
        { type: "stream-start", warnings: [] },
        { type: "text-start", id: "t" },
        ...pieces.map((delta): LanguageModelV3StreamPart => ({ type: "text-delta", id: "t", delta })),
        { type: "text-end", id: "t" },
        { type: "finish", usage: result.usage, finishReason: result.finishReason },
      ];
      return { stream: simulateReadableStream({ chunks, initialDelayInMs: null, chunkDelayInMs: null }) };
    },
  };
}

/** A stream that discards what it is given, counting bytes; a terminal when `tty`. */
function sink(tty: boolean) {
  const written = { bytes: 0 };
  const out = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      written.bytes += chunk.length;
      done();
    },
  }) as Writable & { isTTY?: boolean; columns?: number; rows?: number };
  if (tty) Object.assign(out, { isTTY: true, columns: 120, rows: 40 });
  return { out, written };
}

type Mode = "none" | "tty" | "lines" | "stream";
const MODES: Mode[] = ["none", "tty", "lines", "stream"];

function countWrites(store: Store): { writes: number } {
  const counts = { writes: 0 };
  const methods = store as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  for (const name of WRITES) {
    const method = methods[name]?.bind(store);
    if (!method) continue;
    methods[name] = (...args: unknown[]) => {
      counts.writes += 1;
      return method(...args);
    };
  }
  return counts;
}

/** Time spent inside the view: its handlers, and its frames drawn on the timer. */
const inView = { ms: 0 };
const timed =
  <A extends unknown[], R>(fn: (...args: A) => R) =>
  (...args: A): R => {
    const start = performance.now();
    try {
      return fn(...args);
    } finally {
      inView.ms += performance.now() - start;
    }
  };
const render = LiveView.prototype.render;
LiveView.prototype.render = function (this: LiveView) {
  timed(() => render.call(this))();
};

async function once(mode: Mode, n: number, dir: string, tag: string): Promise<{ ms: number; inViewMs: number; writes: number; bytes: number }> {
  const store = await openStore(`sqlite:${path.join(dir, `${tag}.db`)}`);
  const counts = countWrites(store);
  const { out, written } = sink(mode !== "lines");
  const view = mode === "none" ? undefined : createRunView(out, { mode: "normal", stream: mode === "stream", env: {} });
  const observers: RunObserver[] = view
    ? [Object.fromEntries(Object.entries(view).map(([name, handler]) => [name, timed(handler as (event: unknown) => void)])) as RunObserver]
    : [];
  inView.ms = 0;
  try {
    const start = performance.now();
    await chainCrew(n, instantStreamingModel()).kickoff({ runId: "bench", store, observers });
    timed(() => view?.close())();
    return { ms: performance.now() - start, inViewMs: inView.ms, writes: counts.writes, bytes: written.bytes };
  } finally {
    await store.close();
  }
}

interface Row {
  mode: Mode;
  perTask: Stats;
  /** Wall time over the run without a view, per task: noisy on a busy machine. */
  overhead: number;
  /** Time inside the view's code per task, measured directly, over the per-task time without a view. */
  inView: number;
  inViewMs: Stats;
  writesPerTask: number;
  bytes: number;
}

export async function benchView(options: { smoke?: boolean } = {}): Promise<string> {
  const n = options.smoke ? 100 : 1000;
  const reps = options.smoke ? 1 : 5;
  const dir = mkdtempSync(path.join(os.tmpdir(), "crewstate-bench-view-"));
  const times = new Map<Mode, number[]>(MODES.map((m) => [m, []]));
  const inside = new Map<Mode, number[]>(MODES.map((m) => [m, []]));
  const last = new Map<Mode, { writes: number; bytes: number }>();
  try {
    for (const mode of MODES) await once(mode, Math.min(n, 20), dir, `warm-${mode}`);
    for (let rep = 0; rep < reps; rep++) {
      // Rotated, so no mode always runs first or right after the same neighbour.
      for (const mode of [...MODES.slice(rep % MODES.length), ...MODES.slice(0, rep % MODES.length)]) {
        const result = await once(mode, n, dir, `${mode}-${rep}`);
        times.get(mode)!.push(result.ms / n);
        inside.get(mode)!.push(result.inViewMs / n);
        last.set(mode, { writes: result.writes, bytes: result.bytes });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const base = stats(times.get("none")!).median;
  const rows: Row[] = MODES.map((mode) => {
    const perTask = stats(times.get(mode)!);
    const inViewMs = stats(inside.get(mode)!);
    return { mode, perTask, overhead: (perTask.median - base) / base, inView: inViewMs.median / base, inViewMs, writesPerTask: last.get(mode)!.writes / n, bytes: last.get(mode)!.bytes };
  });
  for (const row of rows) {
    process.stdout.write(
      `view ${row.mode.padEnd(6)} N=${n} per task ${row.perTask.median.toFixed(3)} ms (${row.perTask.min.toFixed(3)}–${row.perTask.max.toFixed(3)}) · ` +
        `wall overhead ${(row.overhead * 100).toFixed(1)} % · in the view ${row.inViewMs.median.toFixed(4)} ms per task = ${(row.inView * 100).toFixed(2)} % · ${row.writesPerTask.toFixed(2)} store writes per task · ${row.bytes} bytes shown\n`,
    );
  }
  const viewed = rows.filter((r) => r.mode === "tty" || r.mode === "lines");
  const worst = Math.max(...viewed.map((r) => r.inView));
  const streamWrites = rows.find((r) => r.mode === "stream")!.writesPerTask;
  const plainWrites = rows.find((r) => r.mode === "none")!.writesPerTask;
  const verdict = [
    `time inside the view is at most ${(worst * 100).toFixed(2)} % of the per-task time without it (target ≤ ${TARGET * 100} %): ${worst <= TARGET ? "met" : "NOT met"}`,
    `streaming: ${streamWrites.toFixed(2)} store writes per task against ${plainWrites.toFixed(2)} without (one model call per task): ${streamWrites === plainWrites ? "no extra writes" : "EXTRA WRITES"}`,
  ];
  process.stdout.write(`${verdict.join("\n")}\n`);
  return markdown(rows, n, reps, verdict);
}

function markdown(rows: Row[], n: number, reps: number, verdict: string[]): string {
  return [
    "## Watching a run: the view's cost",
    "",
    `A chain of ${n} tasks on a zero-latency model and the SQLite store, in one process; median of ${reps} runs (min–max), ` +
      "modes interleaved. *tty*: the live view on an emulated terminal (120 × 40); *lines*: the plain lines a pipe gets; " +
      "*stream*: the live view with `--stream` (the model's answer comes as 16 text deltas, through `streamText`). " +
      "*Wall overhead* is against *none* and carries the machine's noise; *in the view* is the time spent in the view's own code " +
      "(its event handlers and the frames it draws), measured directly, per task and as a share of the per-task time of *none*.",
    "",
    "| view | ms per task | wall overhead | in the view, ms per task | in the view, share | store writes per task | bytes shown |",
    "|---|---:|---:|---:|---:|---:|---:|",
    ...rows.map(
      (r) =>
        `| ${r.mode} | ${r.perTask.median.toFixed(3)} (${r.perTask.min.toFixed(3)}–${r.perTask.max.toFixed(3)}) | ${r.mode === "none" ? "—" : `${(r.overhead * 100).toFixed(1)} %`} | ` +
        `${r.mode === "none" ? "—" : r.inViewMs.median.toFixed(4)} | ${r.mode === "none" ? "—" : `${(r.inView * 100).toFixed(2)} %`} | ${r.writesPerTask.toFixed(2)} | ${r.bytes} |`,
    ),
    "",
    ...verdict.map((line) => `- ${line}`),
    "",
  ].join("\n");
}

/** For `bench/run.ts`: measures, and unless `--smoke` appends the section to docs/benchmarks.md. */
export async function viewSection(argv: string[] = process.argv.slice(2)): Promise<string> {
  const smoke = argv.includes("--smoke");
  const section = await benchView({ smoke });
  if (!smoke) appendFileSync(fileURLToPath(new URL("../docs/benchmarks.md", import.meta.url)), `\n${section}`);
  return section;
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(`\n${await viewSection()}`);
