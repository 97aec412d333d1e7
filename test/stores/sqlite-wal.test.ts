/**
 * SQLite silently drops every WAL frame after one that fails its checksum, committed or not. The
 * doctor reads the WAL as SQLite's recovery will, before anything opens the file, and reports it.
 */
import { copyFileSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { diagnoseStore } from "../../src/engine/doctor.js";
import { outputHashOf } from "../../src/hash.js";
import { SqliteStore } from "../../src/stores/sqlite/store.js";
import { scanWal } from "../../src/stores/sqlite/wal.js";
import { newTaskRecord } from "../../src/stores/store.js";
import { tempDir } from "./sqlite/files.js";

const COMMITS = 12;
const FRAME = 24 + 4096;

/**
 * The files a crash leaves: a store that committed a run of COMMITS tasks, copied while its
 * connection is still open (so before the checkpoint its close would make).
 */
async function crashImage(): Promise<string> {
  const live = join(tempDir(), "state.db");
  const store = await SqliteStore.open(live);
  try {
    await store.beginRun({ runId: "r", crew: "c", inputs: {} });
    for (let i = 0; i < COMMITS; i++) {
      const output = `output ${i} `.repeat(200);
      await store.saveTask("r", { ...newTaskRecord(`t${i}`), status: "completed", inputHash: "i", output, outputHash: outputHashOf(output, null) }, { type: "task_completed" });
    }
    const file = join(tempDir(), "state.db");
    for (const suffix of ["", "-wal", "-shm"]) copyFileSync(live + suffix, file + suffix);
    return file;
  } finally {
    await store.close();
  }
}

const frames = (file: string) => Math.floor((statSync(`${file}-wal`).size - 32) / FRAME);

function flipByte(path: string, at: number): void {
  const bytes = readFileSync(path);
  bytes[at] = bytes[at]! ^ 0x5a;
  writeFileSync(path, bytes);
}

/** How many task records SQLite itself still finds. */
async function recordsLeft(file: string): Promise<number> {
  const store = await SqliteStore.open(file, { readOnly: true });
  try {
    return (await store.getRun("r"))?.tasks.length ?? 0;
  } finally {
    await store.close();
  }
}

async function findings(file: string): Promise<string[]> {
  return (await diagnoseStore(`sqlite:${file}`)).findings.map((f) => f.message);
}

describe("doctor on a damaged SQLite WAL", () => {
  it("finds nothing wrong with the WAL a crash leaves", async () => {
    const file = await crashImage();
    expect(scanWal(file)).toMatchObject({ problems: [] });
    expect(scanWal(file)!.keptCommits).toBeGreaterThanOrEqual(COMMITS);
    expect(await findings(file)).toEqual([]);
    expect(await recordsLeft(file)).toBe(COMMITS);
  });

  it("reports a flipped byte in a frame's page: SQLite drops the commits after it", async () => {
    const file = await crashImage();
    const middle = Math.floor(frames(file) / 2);
    flipByte(`${file}-wal`, 32 + middle * FRAME + 24 + 100);
    const problems = await findings(file);
    expect(problems).toContainEqual(expect.stringMatching(new RegExp(`state\\.db-wal: frame ${middle + 1} of ${frames(file)} fails its checksum; SQLite keeps the \\d+ commit\\(s\\) before it and drops \\d+ frame\\(s\\)`)));
    // What the doctor warns about is real: SQLite opens the file without a word and the commits are gone.
    expect(await recordsLeft(file)).toBeLessThan(COMMITS);
  });

  it("reports a flipped byte in a frame header's salt", async () => {
    const file = await crashImage();
    flipByte(`${file}-wal`, 32 + 2 * FRAME + 9);
    expect(await findings(file)).toContainEqual(expect.stringMatching(/frame 3 of \d+ has damaged salts/));
  });

  it("reports a WAL whose header is damaged: every commit in it is lost", async () => {
    const file = await crashImage();
    flipByte(`${file}-wal`, 12);
    expect((await findings(file))[0]).toMatch(/state\.db-wal has a damaged header: SQLite ignores the whole file/);
  });

  it("reports a WAL cut in the middle of a frame", async () => {
    const file = await crashImage();
    truncateSync(`${file}-wal`, 32 + (frames(file) - 3) * FRAME + 1000);
    const problems = await findings(file);
    expect(problems).toContainEqual(expect.stringMatching(/ends in a torn frame \(1000 of 4120 bytes\)/));
    expect(problems).toContainEqual(expect.stringMatching(/its index \(-shm\) records \d+ committed frame\(s\), but only \d+ are intact/));
  });

  it("reports a WAL cut at a frame boundary, from what its -shm index remembers", async () => {
    const file = await crashImage();
    truncateSync(`${file}-wal`, 32 + (frames(file) - 2) * FRAME);
    expect(await findings(file)).toEqual([expect.stringMatching(/its index \(-shm\) records \d+ committed frame\(s\), but only \d+ are intact/)]);
    expect(await recordsLeft(file)).toBeLessThan(COMMITS);
  });

  it("finds 30 of 30 random flips and cuts", async () => {
    const file = await crashImage();
    const pristine = readFileSync(`${file}-wal`);
    const shm = readFileSync(`${file}-shm`);
    let seed = 7;
    const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    let found = 0;
    for (let round = 0; round < 30; round++) {
      const damaged = Buffer.from(pristine);
      const at = 32 + random(pristine.length - 32 - FRAME); // never the last frame's page: damage there may hit unused bytes
      const bytes = round % 2 === 0 ? (damaged[at] = damaged[at]! ^ 0xff, damaged) : damaged.subarray(0, at);
      writeFileSync(`${file}-wal`, bytes);
      writeFileSync(`${file}-shm`, shm);
      if ((scanWal(file)?.problems.length ?? 0) > 0) found++;
    }
    expect(found).toBe(30);
  });
});
