/**
 * The dashboard section of `npm run bench`: how fast `crewstate ui` answers over a big store.
 * - The runs page: a SQLite store holding 10,000 runs (500 with --smoke); the server time of the
 *   first page (`GET /api/runs`, 50 runs), median of repetitions. Target ≤ 100 ms.
 * - A run of 1,000 tasks: the server time of `GET /api/runs/<id>` (its timeline) and, when
 *   Chromium is installed, the time from navigation to the page showing all 1,000 timeline rows.
 *   Target ≤ 1 s to first render.
 *
 *   node --import tsx bench/ui.ts [--smoke]   prints the section; `npm run bench` appends it to
 *                                             docs/benchmarks.md (not with --smoke)
 */
import { appendFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { newTaskRecord, type Run, type RunDump, type Store } from "../src/stores/store.js";
import { openStore } from "../src/stores/open.js";
import { outputHashOf } from "../src/hash.js";
import { startUi, type RunningUi } from "../src/ui/server.js";
import { stats, type Stats } from "./peers/system.js";

const PAGE_TARGET_MS = 100;
const RENDER_TARGET_MS = 1_000;
const CHROMIUM = process.env.CREWSTATE_CHROMIUM ?? "/usr/bin/chromium";

/** A finished run of `tasks` tasks, as an import writes it in one commit. */
function dumpOf(runId: string, tasks: number, at: Date): RunDump {
  const iso = (ms: number) => new Date(at.getTime() + ms).toISOString();
  const records = Array.from({ length: tasks }, (_, i) => ({
    ...newTaskRecord(`task_${i}`),
    status: "completed" as const,
    inputHash: "0".repeat(64),
    output: `output of task ${i}`,
    outputHash: outputHashOf(`output of task ${i}`, null),
    startedAt: iso(i * 10),
    completedAt: iso(i * 10 + 8),
    attempts: 1,
    usage: { inputTokens: 100, outputTokens: 20, costUsd: 0.0001 },
    model: "bench",
  }));
  const run: Run = { runId, crew: "bench", kind: "crew", parent: null, inputs: { n: tasks }, status: "completed", attempts: 1, error: null, createdAt: iso(0), updatedAt: iso(tasks * 10), tasks: records };
  return {
    run,
    events: [
      { seq: 1, runId, task: null, type: "run_started", at: iso(0), data: null },
      { seq: 2, runId, task: null, type: "run_completed", at: iso(tasks * 10), data: null },
    ],
    calls: [],
  };
}

async function timed(times: number, work: () => Promise<unknown>, pauseMs = 0): Promise<Stats> {
  const samples: number[] = [];
  for (let i = 0; i < times; i++) {
    if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    const started = performance.now();
    await work();
    samples.push(performance.now() - started);
  }
  return stats(samples);
}

async function get(ui: RunningUi, pathname: string): Promise<unknown> {
  const answer = await fetch(`${ui.origin}${pathname}`, { headers: { authorization: `Bearer ${ui.token}` } });
  if (!answer.ok) throw new Error(`${pathname}: ${answer.status} ${await answer.text()}`);
  return answer.json();
}

/** Navigation to the run's page until its timeline shows every row, in Chromium; undefined without it. */
async function firstRender(ui: RunningUi, runId: string, rows: number, reps: number): Promise<Stats | undefined> {
  if (!existsSync(CHROMIUM)) return undefined;
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(ui.url);
    const samples: number[] = [];
    for (let i = 0; i < reps; i++) {
      await page.goto(`${ui.origin}/#/`);
      await page.waitForLoadState("networkidle");
      const started = performance.now();
      await page.goto(`${ui.origin}/#/runs/${encodeURIComponent(runId)}`);
      await page.locator("[data-timeline-row]").nth(rows - 1).waitFor({ state: "attached", timeout: 30_000 });
      samples.push(performance.now() - started);
    }
    return stats(samples);
  } finally {
    await browser.close();
  }
}

export async function benchUi(options: { smoke: boolean }): Promise<string> {
  const runs = options.smoke ? 500 : 10_000;
  const bigRun = options.smoke ? 100 : 1_000;
  const reps = options.smoke ? 3 : 15;
  const dir = mkdtempSync(path.join(os.tmpdir(), "crewstate-bench-ui-"));
  let store: Store | undefined;
  let ui: RunningUi | undefined;
  try {
    store = await openStore(`sqlite:${path.join(dir, "state.db")}`);
    const base = new Date("2026-01-01T00:00:00Z");
    for (let i = 0; i < runs; i++) await store.importRun(dumpOf(`run-${String(i).padStart(5, "0")}`, 2, new Date(base.getTime() + i * 1000)));
    await store.importRun(dumpOf("big-run", bigRun, new Date(base.getTime() + runs * 1000)));
    ui = await startUi({ store, port: 0 });
    await get(ui, "/api/runs"); // warm
    // Cold: the server's list of runs is older than its look interval (500 ms), so it reads the store.
    const page = await timed(reps, () => get(ui!, "/api/runs?limit=50"), 600);
    // While a page is open: its change stream keeps the list fresh; requests in between reuse it.
    const warm = await timed(reps, () => get(ui!, "/api/runs?offset=50&limit=50"));
    const filtered = await timed(reps, () => get(ui!, "/api/runs?status=completed&q=run-09&limit=50"));
    const timeline = await timed(reps, () => get(ui!, "/api/runs/big-run"));
    const render = await firstRender(ui, "big-run", bigRun, options.smoke ? 1 : 5);
    const verdict = [
      `runs page over ${runs + 1} runs: ${page.median.toFixed(1)} ms server time (target ≤ ${PAGE_TARGET_MS} ms): ${page.median <= PAGE_TARGET_MS ? "met" : "NOT met"}`,
      render === undefined
        ? `a run of ${bigRun} tasks: first render not measured (no Chromium at ${CHROMIUM})`
        : `a run of ${bigRun} tasks: first render in ${render.median.toFixed(0)} ms (target ≤ ${RENDER_TARGET_MS} ms): ${render.median <= RENDER_TARGET_MS ? "met" : "NOT met"}`,
    ];
    process.stdout.write(`${verdict.join("\n")}\n`);
    const row = (name: string, s: Stats | undefined) => `| ${name} | ${s === undefined ? "—" : `${s.median.toFixed(1)} (${s.min.toFixed(1)}–${s.max.toFixed(1)})`} |`;
    return [
      "## The dashboard (`crewstate ui`)",
      "",
      `A SQLite store with ${runs} finished runs of 2 tasks and one run of ${bigRun} tasks; the server in this process, asked over HTTP ` +
        `on 127.0.0.1; median of ${reps} requests (min–max), ms. First render: Chromium (headless, 1280 × 800) navigating from the ` +
        "runs list to the big run's page until every timeline row is in the DOM.",
      "",
      "| what | ms |",
      "|---|---:|",
      row("`GET /api/runs` (first page, 50 runs), the list read from the store", page),
      row("`GET /api/runs?offset=50` (next page), the list seen ≤ 500 ms ago", warm),
      row("`GET /api/runs?status=completed&q=run-09` (filtered)", filtered),
      row(`\`GET /api/runs/big-run\` (${bigRun} tasks' timeline)`, timeline),
      row(`first render of the ${bigRun}-task run's page`, render),
      "",
      ...verdict.map((line) => `- ${line}`),
      "",
    ].join("\n");
  } finally {
    await ui?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** For `bench/run.ts`: measures, and unless `--smoke` appends the section to docs/benchmarks.md. */
export async function uiSection(argv: string[] = process.argv.slice(2)): Promise<string> {
  const smoke = argv.includes("--smoke");
  const section = await benchUi({ smoke });
  if (!smoke) appendFileSync(fileURLToPath(new URL("../docs/benchmarks.md", import.meta.url)), `\n${section}`);
  return section;
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(`\n${await uiSection()}`);
