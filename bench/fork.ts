/**
 * The fork section of `npm run bench` (issue 14): `fork()` of a finished 1,000-task run on SQLite
 * (100 with --smoke) — one snapshot read of the source, one import commit of the copy — and
 * `diff` of the source against the fork. Target: fork ≤ 100 ms at N = 1000.
 *
 *   node --import tsx bench/fork.ts [--smoke]   prints the section; `npm run bench` appends it to
 *                                               docs/benchmarks.md (not with --smoke)
 */
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { diffStoredRuns } from "../src/runs/diff-stored.js";
import { fork } from "../src/runs/fork.js";
import { openStore } from "../src/stores/open.js";
import { chainCrew } from "./chain.js";
import { elapsedSince, stats } from "./peers/system.js";

const REPS = 5;

export async function benchFork(options: { smoke?: boolean } = {}): Promise<string> {
  const n = options.smoke ? 100 : 1000;
  const dir = mkdtempSync(path.join(os.tmpdir(), "crewstate-bench-fork-"));
  const store = await openStore(`sqlite:${path.join(dir, "state.db")}`);
  try {
    await chainCrew(n).kickoff({ runId: "source", store });
    const forkMs: number[] = [];
    const diffMs: number[] = [];
    for (let i = 0; i < (options.smoke ? 1 : REPS); i++) {
      let start = process.hrtime.bigint();
      const forked = await fork(store, "source", { runId: `fork-${i}`, at: `step_${String(Math.floor(n / 2)).padStart(4, "0")}` });
      forkMs.push(elapsedSince(start));
      start = process.hrtime.bigint();
      await diffStoredRuns(store, "source", forked.runId);
      diffMs.push(elapsedSince(start));
    }
    const f = stats(forkMs);
    const d = stats(diffMs);
    const lines = [
      "## Fork and diff",
      "",
      `A finished chain of ${n.toLocaleString("en")} tasks (1 KiB outputs, one journaled call each) on SQLite (synchronous=normal), forked at its middle task: ` +
        `\`fork\` reads the source in one snapshot and writes the copy (records, journals, a \`run_forked\` event) in one commit; \`diff\` compares the two. Median of ${forkMs.length} (min–max).`,
      "",
      "| what | ms | target |",
      "|---|---:|---|",
      `| fork of a ${n.toLocaleString("en")}-task run | ${f.median.toFixed(1)} (${f.min.toFixed(1)}–${f.max.toFixed(1)}) | ${n === 1000 ? (f.median <= 100 ? "≤ 100 ms: met" : "≤ 100 ms: **missed**") : "—"} |`,
      `| diff of source and fork | ${d.median.toFixed(1)} (${d.min.toFixed(1)}–${d.max.toFixed(1)}) | — |`,
      "",
    ];
    return lines.join("\n");
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** For `bench/run.ts`: measures, and unless `--smoke` appends the section to docs/benchmarks.md. */
export async function forkSection(argv: string[] = process.argv.slice(2)): Promise<string> {
  const smoke = argv.includes("--smoke");
  const section = await benchFork({ smoke });
  process.stdout.write(`\n${section}`);
  if (!smoke) appendFileSync(fileURLToPath(new URL("../docs/benchmarks.md", import.meta.url)), `\n${section}`);
  return section;
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(`\n${await benchFork({ smoke: process.argv.includes("--smoke") })}`);
