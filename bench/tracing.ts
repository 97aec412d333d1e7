/**
 * The tracing section of `npm run bench`: what OpenTelemetry spans cost per task. A chain of
 * 1,000 tasks on a zero-latency model and the memory store (so the engine's own time is all there
 * is) runs three ways in each repetition, in rotated order: tracing off (`tracing: false`), tracing
 * on without an SDK (the default for an application that registers none: every span a no-op),
 * with an SDK (BasicTracerProvider + SimpleSpanProcessor + InMemorySpanExporter) recording a
 * run span, a task span and a model-call span per task, and with the same SDK exporting in
 * batches (BatchSpanProcessor, as production setups do). Target: ≤ 5 % of the per-task time,
 * measured as CPU time.
 *
 *   node --import tsx bench/tracing.ts [--smoke]   prints the section; `npm run bench` appends it
 *                                                  to docs/benchmarks.md (not with --smoke)
 */
import { appendFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { trace } from "@opentelemetry/api";
import { BasicTracerProvider, BatchSpanProcessor, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { MemoryStore, tracingObserver, type RunObserver } from "../src/index.js";
import { chainCrew } from "./chain.js";
import { collectGarbage, stats, type Stats } from "./peers/system.js";

const TARGET = 0.05;
const VARIANTS = ["off", "no SDK", "SDK", "SDK batch"] as const;
type Variant = (typeof VARIANTS)[number];

/** One SDK of each kind for the whole bench, registered for the runs that use it, as an application registers one at startup. */
const exporter = new InMemorySpanExporter();
const providers = {
  SDK: new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
  "SDK batch": new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] }),
};

/** The tracing observer, timing the calls into it. */
function timed(observer: RunObserver): { observer: RunObserver; ms: () => number } {
  let ms = 0;
  const wrapped: RunObserver = {};
  const methods = ["onRunStart", "onRunEnd", "onProgress", "onTaskStart", "onTaskEnd", "onCallStart", "onCallEnd", "onToken"] as const;
  for (const name of methods) {
    const method = observer[name] as ((event: unknown) => void) | undefined;
    if (!method) continue;
    (wrapped as Record<string, (event: unknown) => void>)[name] = (event) => {
      const start = performance.now();
      try {
        method.call(observer, event);
      } finally {
        ms += performance.now() - start;
      }
    };
  }
  return { observer: wrapped, ms: () => ms };
}

/**
 * One kickoff of the chain; returns the process's CPU time per task (the kickoff never waits, so
 * on an idle machine this is its wall time, and on a shared one it leaves other processes out),
 * the share of the kickoff's wall time spent inside the tracing observer (both clocks run on
 * alike while the machine runs other processes), and the spans the SDK recorded.
 */
async function perTask(n: number, variant: Variant): Promise<{ ms: number; inside: number; spans: number }> {
  exporter.reset();
  const provider = variant === "SDK" || variant === "SDK batch" ? providers[variant] : undefined;
  if (provider) trace.setGlobalTracerProvider(provider);
  try {
    const crew = chainCrew(n);
    // The observer kickoff would install, timed.
    const tracing = timed(tracingObserver());
    collectGarbage();
    const start = process.cpuUsage();
    const wall = performance.now();
    await crew.kickoff({ runId: "bench", store: new MemoryStore(), tracing: false, observers: variant === "off" ? [] : [tracing.observer] });
    const wallMs = performance.now() - wall;
    const used = process.cpuUsage(start);
    await provider?.forceFlush();
    return { ms: (used.user + used.system) / 1000 / n, inside: tracing.ms() / wallMs, spans: exporter.getFinishedSpans().length };
  } finally {
    trace.disable();
  }
}

export async function benchTracing(options: { smoke?: boolean } = {}): Promise<string> {
  const n = options.smoke ? 50 : 1000;
  const reps = options.smoke ? 1 : 7;
  for (const variant of VARIANTS) await perTask(Math.min(n, 100), variant); // warm-up: JIT
  const times = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]));
  const overhead = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]));
  const inside = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]));
  let spans: number | undefined;
  for (let rep = 0; rep < reps; rep++) {
    const order = [...VARIANTS.slice(rep % VARIANTS.length), ...VARIANTS.slice(0, rep % VARIANTS.length)];
    const sample = new Map<Variant, number>();
    for (const variant of order) {
      const result = await perTask(n, variant);
      sample.set(variant, result.ms);
      times.get(variant)!.push(result.ms);
      inside.get(variant)!.push(result.inside);
      if (variant !== "off" && variant !== "no SDK" && result.spans !== 2 * n + 1) spans = result.spans;
    }
    // Paired with the same repetition's run without tracing, so drifting load cancels out.
    for (const variant of VARIANTS) overhead.get(variant)!.push(sample.get(variant)! / sample.get("off")! - 1);
  }
  if (spans !== undefined) throw new Error(`bench tracing: the SDK recorded ${spans} spans, expected ${2 * n + 1}`);
  const rows = VARIANTS.map((variant) => ({ variant, ms: stats(times.get(variant)!), overhead: stats(overhead.get(variant)!), inside: stats(inside.get(variant)!) }));
  for (const row of rows) {
    process.stdout.write(
      `tracing ${row.variant.padEnd(9)} N=${n}: ${row.ms.median.toFixed(3)} CPU ms per task · overhead ${pct(row.overhead.median)} (${pct(row.overhead.min)} – ${pct(row.overhead.max)}) · ` +
        `inside the tracing observer ${pct(row.inside.median)} (${pct(row.inside.min)} – ${pct(row.inside.max)}); target ≤ ${pct(TARGET)}\n`,
    );
  }
  return markdown(rows, n, reps);
}

const pct = (ratio: number) => `${(ratio * 100).toFixed(1)} %`;

function markdown(rows: { variant: Variant; ms: Stats; overhead: Stats; inside: Stats }[], n: number, reps: number): string {
  return [
    "## Tracing (OpenTelemetry)",
    "",
    `A chain of ${n} tasks on a zero-latency model and the memory store, run with tracing off, with tracing on but no OpenTelemetry SDK registered ` +
      "(spans are no-ops), with an SDK recording to an in-memory exporter through a SimpleSpanProcessor (a run span, and per task a task span and a model-call span), " +
      "and with the same SDK exporting in batches (BatchSpanProcessor, the usual production choice). " +
      `Times are the process's CPU time per task (the kickoff never waits, so this is its wall time on an idle machine). Median of ${reps} runs each (min–max); the overhead is paired run by run with the same repetition's run without tracing. ` +
      "*Inside tracing* is the share of the run's time spent in the tracing observer's methods (span creation and export included), measured " +
      `directly and free of the noise between runs. Target: ≤ ${pct(TARGET)}.`,
    "",
    "| tracing | CPU ms per task | overhead | inside tracing |",
    "|---|---:|---:|---:|",
    ...rows.map((r) =>
      r.variant === "off"
        ? `| off | ${r.ms.median.toFixed(3)} (${r.ms.min.toFixed(3)}–${r.ms.max.toFixed(3)}) | — | — |`
        : `| ${r.variant} | ${r.ms.median.toFixed(3)} (${r.ms.min.toFixed(3)}–${r.ms.max.toFixed(3)}) | ${pct(r.overhead.median)} (${pct(r.overhead.min)} – ${pct(r.overhead.max)}) | ${pct(r.inside.median)} (${pct(r.inside.min)} – ${pct(r.inside.max)}) |`,
    ),
    "",
  ].join("\n");
}

export async function tracingSection(argv: string[] = process.argv.slice(2)): Promise<string> {
  const smoke = argv.includes("--smoke");
  const section = await benchTracing({ smoke });
  if (!smoke) {
    appendFileSync(fileURLToPath(new URL("../docs/benchmarks.md", import.meta.url)), `\n${section}`);
    process.stdout.write("tracing section appended to docs/benchmarks.md\n");
  }
  return section;
}

if (import.meta.url === `file://${process.argv[1]}`) await tracingSection();
