/**
 * The encryption section of `npm run bench`: what sealing values at rest costs per task. The
 * 1,000-task chain (1 KiB outputs, a zero-latency model) runs on SQLite with encryption off and
 * on, in alternating order. Measured directly: the wall time inside the store's methods (as the
 * main table's *in store calls*) and, with encryption on, the time inside the sealer (sealing,
 * opening, keyed hashes — nested calls counted once). Target: sealing ≤ 15 % of the store's own
 * time (the store calls of the run without encryption).
 *
 *   node --import tsx bench/encryption.ts [--smoke]   prints the section; `npm run bench` appends it
 *                                                     to docs/benchmarks.md (not with --smoke)
 */
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { BaseStore } from "../src/stores/base-store.js";
import { openStore } from "../src/stores/open.js";
import { Sealer } from "../src/stores/seal.js";
import { chainCrew } from "./chain.js";
import { collectGarbage, instrument, stats, type Stats } from "./peers/system.js";

const TARGET = 0.15;
const KEY = { key: Buffer.alloc(32, 42).toString("base64"), keyId: "bench" };

interface Sample {
  /** Wall ms per task inside the store's methods. */
  store: number;
  /** Wall ms per task inside the sealer (0 when off). */
  seal: number;
  /** Wall ms per task of the whole kickoff. */
  total: number;
}

async function perTask(n: number, encrypted: boolean): Promise<Sample> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "crewstate-bench-encryption-"));
  try {
    const store = await openStore(`sqlite:${path.join(dir, "state.db")}`);
    const sealer = new Sealer(KEY);
    const sealing = instrument(sealer);
    if (encrypted) (store as BaseStore).useEncryption(sealer);
    const inStore = instrument(store);
    const crew = chainCrew(n);
    collectGarbage();
    const start = performance.now();
    await crew.kickoff({ runId: "bench", store, tracing: false });
    const total = performance.now() - start;
    await store.close();
    return { store: inStore.ms / n, seal: encrypted ? sealing.ms / n : 0, total: total / n };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchEncryption(options: { smoke?: boolean } = {}): Promise<string> {
  const n = options.smoke ? 20 : 1000;
  const reps = options.smoke ? 1 : Number(process.env.BENCH_ENCRYPTION_REPS ?? 5);
  await perTask(Math.min(n, 100), false); // warm-up: JIT
  await perTask(Math.min(n, 100), true);
  const off: Sample[] = [];
  const on: Sample[] = [];
  const share: number[] = [];
  for (let rep = 0; rep < reps; rep++) {
    const order = rep % 2 === 0 ? [false, true] : [true, false];
    const sample = new Map<boolean, Sample>();
    for (const encrypted of order) sample.set(encrypted, await perTask(n, encrypted));
    off.push(sample.get(false)!);
    on.push(sample.get(true)!);
    // Paired with the same repetition's run without encryption.
    share.push(sample.get(true)!.seal / sample.get(false)!.store);
  }
  const row = {
    storeOff: stats(off.map((s) => s.store)),
    storeOn: stats(on.map((s) => s.store)),
    seal: stats(on.map((s) => s.seal)),
    share: stats(share),
    totalOff: stats(off.map((s) => s.total)),
    totalOn: stats(on.map((s) => s.total)),
  };
  process.stdout.write(
    `encryption sqlite N=${n}: store calls ${ms(row.storeOff)} ms per task off, ${ms(row.storeOn)} on · inside the sealer ${ms(row.seal)} ms per task = ` +
      `${pct(row.share.median)} (${pct(row.share.min)} – ${pct(row.share.max)}) of the store's own time; target ≤ ${pct(TARGET)}\n`,
  );
  return markdown(row, n, reps);
}

const pct = (ratio: number) => `${(ratio * 100).toFixed(1)} %`;
const ms = (s: Stats) => s.median.toFixed(3);
const range = (s: Stats) => `${s.median.toFixed(3)} (${s.min.toFixed(3)}–${s.max.toFixed(3)})`;

function markdown(row: Record<"storeOff" | "storeOn" | "seal" | "share" | "totalOff" | "totalOn", Stats>, n: number, reps: number): string {
  return [
    "## Encryption at rest",
    "",
    `A chain of ${n} tasks (1 KiB outputs, a zero-latency model) on SQLite, with encryption at rest off and on (AES-256-GCM per value, keyed hashes). ` +
      `Wall ms per task, median of ${reps} runs each (min–max), the two interleaved. *In store calls* is the time inside the store's methods, as in the main table; ` +
      "*in the sealer* is the time inside sealing, opening and keyed hashing, measured directly. The share is paired run by run with the same repetition's " +
      `store time without encryption. Target: ≤ ${pct(TARGET)}.`,
    "",
    "| encryption | ms per task | in store calls ms per task | in the sealer ms per task | share of the store's own time |",
    "|---|---:|---:|---:|---:|",
    `| off | ${range(row.totalOff)} | ${range(row.storeOff)} | — | — |`,
    `| on | ${range(row.totalOn)} | ${range(row.storeOn)} | ${range(row.seal)} | ${pct(row.share.median)} (${pct(row.share.min)} – ${pct(row.share.max)}) |`,
    "",
  ].join("\n");
}

export async function encryptionSection(argv: string[] = process.argv.slice(2)): Promise<string> {
  const smoke = argv.includes("--smoke");
  const section = await benchEncryption({ smoke });
  if (!smoke) {
    appendFileSync(fileURLToPath(new URL("../docs/benchmarks.md", import.meta.url)), `\n${section}`);
    process.stdout.write("encryption section appended to docs/benchmarks.md\n");
  }
  return section;
}

if (import.meta.url === `file://${process.argv[1]}`) await encryptionSection();
