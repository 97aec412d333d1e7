/**
 * The journal section of `npm run bench` (issue 4, item 7): what journaling every model and tool
 * call costs, and what it saves when a task dies mid-loop.
 *
 * *Overhead*: one task whose agent makes K model calls on a zero-latency in-process model, the
 * first K − 1 each asking for one tool call, the last answering (K = 10 and 100: the request a
 * call hashes is the whole conversation so far, so the cost per call grows with K). It runs through crewstate on a
 * fresh SQLite store (with a run budget, so every part of the journal works: request hashing, one
 * `recordCall` commit per model and per tool call, the budget check) and, as the baseline, through
 * the same AI SDK `generateText` loop without crewstate. Every repetition also runs both at K = 1,
 * so the kickoff's fixed costs (run and task commits, the lease) come off:
 *
 *   per call = ((crewstate(K) − plain(K)) − (crewstate(1) − plain(1))) / (K − 1)
 *
 * Two parts of it are also timed directly, free of that subtraction's noise: the time inside the
 * store's `recordCall`, and hashing the requests the model was sent as the journal hashes them.
 *
 * *Crash*: the same loop dies at a model call (the model throws, as a crashed process would stop
 * there; the CLI tests do it with SIGKILL) and is resumed with the same run ID; the numbers are the
 * resume's `calls.replayed` and `saved` against what rerunning the whole task would have cost.
 *
 *   node --import tsx bench/journal.ts [--smoke] [--journal-k 10,100] [--journal-reps 9]
 * prints the section; `npm run bench` appends it to docs/benchmarks.md (not with --smoke).
 */
import type { LanguageModelV3, LanguageModelV3CallOptions, LanguageModelV3GenerateResult } from "@ai-sdk/provider";
import { generateText, stepCountIs, tool, type ToolSet } from "ai";
import { appendFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import v8 from "node:v8";
import { runInNewContext } from "node:vm";
import { z } from "zod";
import { Agent, Crew, openStore, Task, type Store, type TokenUsage } from "../src/index.js";
import { hashOf } from "../src/hash.js";
import { defaultLogger } from "../src/log.js";

export interface JournalBenchOptions {
  /** Model calls in the overhead loop, one row each. Default 10 and 100; 5 with `smoke`. */
  k?: number[];
  /** Repetitions. Default 9; 1 with `smoke`. */
  reps?: number;
  smoke?: boolean;
}

interface Stats {
  median: number;
  min: number;
  max: number;
}

/** The per-call target the issue sets, in ms. */
const TARGET_MS = 0.1;

/** The section's options from the command line: `--smoke`, and flags of its own that the chain bench does not read. */
export function journalOptionsFrom(argv: string[]): JournalBenchOptions {
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? (argv[i + 1] ?? "") : undefined;
  };
  const reps = value("--journal-reps");
  return { smoke: argv.includes("--smoke"), k: value("--journal-k")?.split(",").map(Number), reps: reps === undefined ? undefined : Number(reps) };
}

/**
 * For `bench/run.ts`: measures, prints a summary, and unless `--smoke` appends the section to
 * docs/benchmarks.md (which the chain bench has just written). Returns the section's markdown.
 */
export async function journalSection(argv: string[] = process.argv.slice(2)): Promise<string> {
  const options = journalOptionsFrom(argv);
  const markdown = await benchJournal(options);
  if (!options.smoke) {
    const docs = fileURLToPath(new URL("../docs/", import.meta.url));
    mkdirSync(docs, { recursive: true });
    appendFileSync(path.join(docs, "benchmarks.md"), `\n${markdown}`);
    process.stdout.write("journal section appended to docs/benchmarks.md\n");
  }
  return markdown;
}

/** Runs both measurements, prints one summary line each, and returns the markdown section. */
export async function benchJournal(options: JournalBenchOptions = {}): Promise<string> {
  const ks = options.k ?? (options.smoke ? [5] : [10, 100]);
  const reps = options.reps ?? (options.smoke ? 1 : 9);
  if (ks.length === 0 || ks.some((k) => !Number.isInteger(k) || k < 2)) throw new Error(`--journal-k takes whole numbers ≥ 2, got ${ks.join(",")}`);
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`--journal-reps must be a whole number ≥ 1, got ${reps}`);
  const scratch = mkdtempSync(path.join(os.tmpdir(), "crewstate-bench-journal-"));
  try {
    const rows: Overhead[] = [];
    for (const k of ks) {
      const row = await measureOverhead(scratch, k, reps);
      rows.push(row);
      process.stdout.write(
        `journal  K=${String(k).padEnd(4)} per model call ${range(row.perCall)} ms wall, ${range(row.perCallCpu)} ms CPU (target ≤ ${TARGET_MS}) · in recordCall ${range(row.inRecordCall)} ms · ` +
          `hashing ${range(row.hashing)} ms · all-in with kickoff ${range(row.allIn)} ms · plain loop ${range(row.plainPerCall)} ms per call\n`,
      );
    }
    const crashes: CrashRow[] = [];
    for (const shape of crashShapes(Math.max(...ks))) {
      const row = await measureCrash(scratch, shape.tools, shape.crashAt);
      crashes.push(row);
      process.stdout.write(
        `crash    ${row.tools} tool calls, died at model call ${row.crashAt}: resume replayed ${row.replayed} call(s) (${row.replayedModel} model), made ${row.made}; ` +
          `saved ${row.saved.inputTokens + row.saved.outputTokens} tokens, spent ${row.spent.inputTokens + row.spent.outputTokens} (a rerun of the task: ${row.rerunTokens})\n`,
      );
    }
    return markdown(reps, rows, crashes);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// The workload

const SILENT = defaultLogger("silent");

const SYSTEM = "You are Claims Investigator. You look each policy up before you conclude.\nYour personal goal is: Check every policy a claim mentions";
const PROMPT = "Current Task: INVESTIGATE the claim: look up every policy these notes mention, one call each.";

/**
 * A zero-latency model for a loop of `calls` model calls: while the conversation holds fewer than
 * `calls − 1` tool results it asks for one `lookup` call, then it answers. Usage is counted from
 * the prompt's size (4 characters a token), so a longer conversation costs more, as it would.
 * With `dieAt`, model call number `dieAt` (1-based, counted over the model's life) throws.
 */
function loopModel(calls: number, dieAt?: number, seen?: LanguageModelV3CallOptions[]): LanguageModelV3 {
  let served = 0;
  return {
    specificationVersion: "v3",
    provider: "bench",
    modelId: "loop",
    supportedUrls: {},
    async doGenerate(options: LanguageModelV3CallOptions): Promise<LanguageModelV3GenerateResult> {
      served += 1;
      if (served === dieAt) throw new Error(`bench: the process "dies" at model call ${dieAt}`);
      seen?.push(options);
      const results = options.prompt.filter((m) => m.role === "tool").length;
      const inputTokens = Math.ceil(JSON.stringify(options.prompt).length / 4);
      const usage = (output: number) => ({
        inputTokens: { total: inputTokens, noCache: inputTokens, cacheRead: 0, cacheWrite: 0 },
        outputTokens: { total: output, text: output, reasoning: 0 },
      });
      if (results < calls - 1) {
        return {
          content: [{ type: "tool-call", toolCallId: `call_${results}`, toolName: "lookup", input: JSON.stringify({ policy: `PN-${results + 1}` }) }],
          finishReason: { unified: "tool-calls", raw: "tool_calls" },
          usage: usage(12),
          warnings: [],
        };
      }
      return {
        content: [{ type: "text", text: `All ${results} policies are active; deductible 500 each.` }],
        finishReason: { unified: "stop", raw: "stop" },
        usage: usage(16),
        warnings: [],
      };
    },
    async doStream() {
      throw new Error("the bench model does not stream");
    },
  };
}

function lookupTools(): ToolSet {
  return {
    lookup: tool({
      description: "Look up a policy by number",
      inputSchema: z.object({ policy: z.string() }),
      execute: async ({ policy }) => `policy ${policy}: active, deductible 500`,
    }),
  };
}

function loopCrew(model: LanguageModelV3, calls: number): Crew {
  const agent = new Agent({
    role: "Claims Investigator",
    goal: "Check every policy a claim mentions",
    backstory: "You look each policy up before you conclude.",
    model,
    tools: lookupTools(),
    maxSteps: calls,
  });
  const task = new Task({
    name: "investigate",
    description: "INVESTIGATE the claim: look up every policy these notes mention, one call each.",
    expectedOutput: "One verdict per policy.",
    agent,
  });
  return new Crew({ name: "journal-bench", tasks: [task] });
}

/** The same loop with no crewstate at all: the AI SDK's own tool loop. */
async function timePlain(calls: number): Promise<Timing> {
  const model = loopModel(calls);
  const tools = lookupTools();
  collectGarbage();
  const clock = startClock();
  const result = await generateText({ model, system: SYSTEM, messages: [{ role: "user", content: PROMPT }], tools, stopWhen: stepCountIs(calls), maxRetries: 0 });
  const timing = clock();
  if (result.steps.length !== calls) throw new Error(`plain loop made ${result.steps.length} model calls, expected ${calls}`);
  return timing;
}

/**
 * The loop as a crewstate task on a fresh SQLite file: wall time, time spent inside `recordCall`,
 * and the requests the model was sent (the journal hashes each).
 */
async function timeCrewstate(scratch: string, tag: string, calls: number): Promise<Timing & { recordMs: number; requests: LanguageModelV3CallOptions[] }> {
  const store = await openStore(`sqlite:${path.join(scratch, `${tag}.db`)}`);
  const meter = meterRecordCall(store);
  const requests: LanguageModelV3CallOptions[] = [];
  try {
    const crew = loopCrew(loopModel(calls, undefined, requests), calls);
    collectGarbage();
    const clock = startClock();
    const result = await crew.kickoff({ runId: "bench", store, logger: SILENT, budget: { maxTokens: Number.MAX_SAFE_INTEGER } });
    const timing = clock();
    const expected = calls + (calls - 1);
    if (result.calls.made !== expected) throw new Error(`crewstate journaled ${result.calls.made} calls, expected ${expected}`);
    return { ...timing, recordMs: meter.ms, requests };
  } finally {
    await store.close();
  }
}

/** Hashing `requests` as the journal hashes a model call's request (all but the abort signal and headers), in ms. */
function timeHashing(requests: LanguageModelV3CallOptions[]): number {
  const start = process.hrtime.bigint();
  for (const { abortSignal: _signal, headers: _headers, ...request } of requests) hashOf(request);
  return elapsedSince(start);
}

interface Overhead {
  k: number;
  /** From wall time. */
  perCall: Stats;
  /** From this process's CPU time, which other processes' load inflates far less than wall time. */
  perCallCpu: Stats;
  hashing: Stats;
  allIn: Stats;
  inRecordCall: Stats;
  plainPerCall: Stats;
}

async function measureOverhead(scratch: string, k: number, reps: number): Promise<Overhead> {
  // Warm-up: JIT, the SQLite driver, zod.
  for (let i = 0; i < 2; i++) {
    await timePlain(Math.min(k, 10));
    await timeCrewstate(scratch, `warm-${k}-${i}`, Math.min(k, 10));
  }
  const perCall: number[] = [];
  const perCallCpu: number[] = [];
  const allIn: number[] = [];
  const inRecord: number[] = [];
  const hashing: number[] = [];
  const plainPerCall: number[] = [];
  for (let rep = 0; rep < reps; rep++) {
    // Alternate the order, so drifting load weighs on both sides alike.
    const plainK = rep % 2 === 0 ? await timePlain(k) : undefined;
    const csK = await timeCrewstate(scratch, `k${k}-${rep}`, k);
    const plainK2 = plainK ?? (await timePlain(k));
    const cs1 = await timeCrewstate(scratch, `one-${k}-${rep}`, 1);
    const plain1 = await timePlain(1);
    perCall.push((csK.ms - plainK2.ms - (cs1.ms - plain1.ms)) / (k - 1));
    perCallCpu.push((csK.cpuMs - plainK2.cpuMs - (cs1.cpuMs - plain1.cpuMs)) / (k - 1));
    allIn.push((csK.ms - plainK2.ms) / k);
    inRecord.push(csK.recordMs / k);
    hashing.push(timeHashing(csK.requests) / k);
    plainPerCall.push(plainK2.ms / k);
  }
  return { k, perCall: stats(perCall), perCallCpu: stats(perCallCpu), hashing: stats(hashing), allIn: stats(allIn), inRecordCall: stats(inRecord), plainPerCall: stats(plainPerCall) };
}

// ---------------------------------------------------------------------------------------------
// The crash

interface CrashRow {
  tools: number;
  crashAt: number;
  /** Calls journaled before the crash. */
  before: number;
  replayed: number;
  replayedModel: number;
  made: number;
  saved: TokenUsage;
  spent: TokenUsage;
  /** Tokens a rerun of the whole task (what a framework without a journal does) spends on resume. */
  rerunTokens: number;
}

/** The CLI test's shape (5 tool calls, dead at the 4th model call) and a long loop dead halfway. */
function crashShapes(k: number): { tools: number; crashAt: number }[] {
  const long = { tools: k - 1, crashAt: Math.floor(k / 2) + 1 };
  return k - 1 === 5 ? [{ tools: 5, crashAt: 4 }] : [{ tools: 5, crashAt: 4 }, long];
}

async function measureCrash(scratch: string, tools: number, crashAt: number): Promise<CrashRow> {
  const calls = tools + 1;
  const store = await openStore(`sqlite:${path.join(scratch, `crash-${tools}.db`)}`);
  try {
    const died = await loopCrew(loopModel(calls, crashAt), calls)
      .kickoff({ runId: "crash", store, logger: SILENT })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    if (!died) throw new Error("the crash scenario's first kickoff did not fail");
    const before = await store.calls("crash", "investigate");
    const resumed = await loopCrew(loopModel(calls), calls).kickoff({ runId: "crash", store, logger: SILENT });
    const journal = await store.calls("crash", "investigate");
    // A rerun of the task from scratch pays again for every model call of the loop.
    const rerunTokens = journal.reduce((n, c) => n + (c.usage ? c.usage.inputTokens + c.usage.outputTokens : 0), 0);
    const total = (u: TokenUsage) => u.inputTokens + u.outputTokens;
    if (total(resumed.saved) + total(resumed.usage) !== rerunTokens || resumed.calls.replayed !== before.length) {
      throw new Error(`crash scenario does not add up: saved ${total(resumed.saved)} + spent ${total(resumed.usage)} ≠ ${rerunTokens}, or replayed ${resumed.calls.replayed} ≠ ${before.length} journaled`);
    }
    return {
      tools,
      crashAt,
      before: before.length,
      replayedModel: before.filter((c) => c.kind === "model").length,
      replayed: resumed.calls.replayed,
      made: resumed.calls.made,
      saved: resumed.saved,
      spent: resumed.usage,
      rerunTokens,
    };
  } finally {
    await store.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Report

function markdown(reps: number, rows: Overhead[], crashes: CrashRow[]): string {
  const verdict = (o: Overhead) => (Math.min(o.perCall.median, o.perCallCpu.median) <= TARGET_MS ? "within" : "over");
  const tokens = (u: TokenUsage) => u.inputTokens + u.outputTokens;
  return [
    "## Journal: overhead per model call, and what resume saves",
    "",
    `One task whose agent makes K = ${rows.map((o) => o.k).join(" or ")} model calls on a zero-latency in-process model, the first K − 1 each asking for one tool call, ` +
      "on a fresh SQLite store with a run budget set: every model call is hashed, budget-checked and committed, every tool call hashed and committed. " +
      "The baseline is the same AI SDK `generateText` loop without crewstate. *Per model call* takes the kickoff's fixed costs off by running both at K = 1 " +
      "in each repetition: ((crewstate(K) − plain(K)) − (crewstate(1) − plain(1))) / (K − 1), from wall time and from the process's CPU time " +
      "(user + system, which the load of other processes inflates far less). Two parts are timed directly: *in recordCall*, " +
      "the time inside the store's `recordCall` (a model and a tool call per model call), and *hashing*, hashing the requests the model was sent " +
      "as the journal does (each request is the whole conversation so far, so this part grows with K). " +
      `Median of ${reps} run(s) (min–max), ms per model call; the 1-minute load average was ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} CPU(s) at the end.`,
    "",
    "| K | journal overhead (wall) | journal overhead (CPU) | target | in recordCall | hashing | all-in, wall (kickoff's fixed costs included) | the plain AI SDK loop itself, wall |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows.map(
      (o) =>
        `| ${o.k} | ${range(o.perCall)} | ${range(o.perCallCpu)} | ≤ ${TARGET_MS} (${verdict(o)}) | ${range(o.inRecordCall)} | ${range(o.hashing)} | ${range(o.allIn)} | ${range(o.plainPerCall)} |`,
    ),
    "",
    "A task's loop dies at a model call (the model throws where a crashed process would stop; the CLI tests do the same with SIGKILL) and the run " +
      "is resumed with the same run ID. *Replayed* and *tokens saved* are the resumed kickoff's `calls.replayed` and `saved`; *rerun* is what the " +
      "task's model calls cost in all, which a framework that restarts the task pays again. Tokens are counted from the prompt's size.",
    "",
    "| tool calls | died at model call | calls journaled before | replayed on resume (model) | made on resume | tokens saved | tokens spent on resume | tokens a task rerun spends |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...crashes.map(
      (c) =>
        `| ${c.tools} | ${c.crashAt} | ${c.before} | ${c.replayed} (${c.replayedModel}) | ${c.made} | ${tokens(c.saved)} | ${tokens(c.spent)} | ${c.rerunTokens} |`,
    ),
    "",
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------
// Helpers

function meterRecordCall(store: Store): { ms: number } {
  const meter = { ms: 0 };
  const original = store.recordCall.bind(store);
  store.recordCall = async (...args: Parameters<Store["recordCall"]>) => {
    const start = process.hrtime.bigint();
    try {
      return await original(...args);
    } finally {
      meter.ms += elapsedSince(start);
    }
  };
  return meter;
}

function stats(values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)]!, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

const elapsedSince = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;

interface Timing {
  /** Wall time, ms. */
  ms: number;
  /** This process's CPU time (user + system), ms. */
  cpuMs: number;
}

/** Starts timing; the function returned stops it. */
function startClock(): () => Timing {
  const wall = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  return () => {
    const used = process.cpuUsage(cpu);
    return { ms: elapsedSince(wall), cpuMs: (used.user + used.system) / 1000 };
  };
}
const fmt = (ms: number) => (Math.abs(ms) < 0.01 ? ms.toFixed(4) : Math.abs(ms) < 1 ? ms.toFixed(3) : ms.toFixed(2));
const range = (s: Stats) => `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`;

let gc: (() => void) | undefined;
/** A full collection before each timed run, so one run's garbage is not collected in the next. */
function collectGarbage(): void {
  if (!gc) {
    v8.setFlagsFromString("--expose-gc");
    gc = runInNewContext("gc") as () => void;
  }
  gc();
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.stdout.write(`\n${await benchJournal(journalOptionsFrom(process.argv.slice(2)))}`);
}
