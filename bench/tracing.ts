/**
 * The tracing section of `npm run bench`: what OpenTelemetry spans cost per task. A chain of
 * 1,000 tasks on a zero-latency model and the memory store (so the engine's own time is all there
 * is) runs three ways in each repetition, in rotated order: tracing off (`tracing: false`), tracing
 * on without an SDK (the default for an application that registers none: every span a no-op),
 * and with an SDK (BasicTracerProvider + SimpleSpanProcessor + InMemorySpanExporter) recording a
 * run span, a task span and a model-call span per task. Target: ≤ 5 % of the per-task time.
 *
 *   node --import tsx bench/tracing.ts [--smoke]   prints the section; `npm run bench` appends it
 *                                                  to docs/benchmarks.md (not with --smoke)
 */
import { appendFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { trace } from "@opentelemetry/api";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { MemoryStore } from "../src/index.js";
import { chainCrew } from "./chain.js";
import { collectGarbage, stats, type Stats } from "./peers/system.js";

const TARGET = 0.05;
const VARIANTS = ["off", "no SDK", "SDK"] as const;
type Variant = (typeof VARIANTS)[number];

/** One kickoff of the chain; returns ms per task and the spans the SDK recorded. */
async function perTask(n: number, variant: Variant): Promise<{ ms: number; spans: number }> {
  const exporter = new InMemorySpanExporter();
  if (variant === "SDK") trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  try {
    const crew = chainCrew(n);
    collectGarbage();
    const start = performance.now();
    await crew.kickoff({ runId: "bench", store: new MemoryStore(), tracing: variant !== "off" });
    return { ms: (performance.now() - start) / n, spans: exporter.getFinishedSpans().length };
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
  let spans = 0;
  for (let rep = 0; rep < reps; rep++) {
    const order = [...VARIANTS.slice(rep % 3), ...VARIANTS.slice(0, rep % 3)];
    const sample = new Map<Variant, number>();
    for (const variant of order) {
      const result = await perTask(n, variant);
      sample.set(variant, result.ms);
      times.get(variant)!.push(result.ms);
      if (variant === "SDK") spans = result.spans;
    }
    // Paired with the same repetition's run without tracing, so drifting load cancels out.
    for (const variant of VARIANTS) overhead.get(variant)!.push(sample.get(variant)! / sample.get("off")! - 1);
  }
  if (spans !== 2 * n + 1) throw new Error(`bench tracing: the SDK recorded ${spans} spans, expected ${2 * n + 1}`);
  const rows = VARIANTS.map((variant) => ({ variant, ms: stats(times.get(variant)!), overhead: stats(overhead.get(variant)!) }));
  for (const row of rows) {
    process.stdout.write(
      `tracing ${row.variant.padEnd(7)} N=${n}: ${row.ms.median.toFixed(3)} ms per task · overhead ${pct(row.overhead.median)} (${pct(row.overhead.min)} – ${pct(row.overhead.max)}), target ≤ ${pct(TARGET)}\n`,
    );
  }
  return markdown(rows, n, reps);
}

const pct = (ratio: number) => `${(ratio * 100).toFixed(1)} %`;

function markdown(rows: { variant: Variant; ms: Stats; overhead: Stats }[], n: number, reps: number): string {
  return [
    "## Tracing (OpenTelemetry)",
    "",
    `A chain of ${n} tasks on a zero-latency model and the memory store, run with tracing off, with tracing on but no OpenTelemetry SDK registered ` +
      "(spans are no-ops), and with an SDK recording to an in-memory exporter (a run span, and per task a task span and a model-call span). " +
      `Median of ${reps} runs each (min–max); the overhead is paired run by run with the same repetition's run without tracing. Target: ≤ ${pct(TARGET)}.`,
    "",
    "| tracing | ms per task | overhead |",
    "|---|---:|---:|",
    ...rows.map((r) => `| ${r.variant} | ${r.ms.median.toFixed(3)} (${r.ms.min.toFixed(3)}–${r.ms.max.toFixed(3)}) | ${r.variant === "off" ? "—" : `${pct(r.overhead.median)} (${pct(r.overhead.min)} – ${pct(r.overhead.max)})`} |`),
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
