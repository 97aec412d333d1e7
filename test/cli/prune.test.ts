/**
 * `crewstate prune` through the real binary: what it removes and prints, --dry-run, --journals,
 * --vacuum, the JSON store's compaction afterwards, and bad flags refused in one line with nothing changed.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/stores/open.js";
import type { RunDump } from "../../src/stores/store.js";
import { assertBuilt, linesOf, testWorkspace, type Workspace } from "../support/cli.js";
import { SEED, dump, seeded } from "../runs/prune-fixtures.js";

beforeAll(() => assertBuilt());

async function seedInto(url: string): Promise<Map<string, RunDump>> {
  const store = await openStore(url);
  try {
    return await seeded(store);
  } finally {
    await store.close();
  }
}

async function exports(url: string): Promise<Map<string, RunDump | undefined>> {
  const store = await openStore(url);
  try {
    return new Map(await Promise.all(SEED.map(async ([id]) => [id, await store.exportRun(id)] as const)));
  } finally {
    await store.close();
  }
}

const gone = (after: Map<string, RunDump | undefined>) => [...after].filter(([, d]) => d === undefined).map(([id]) => id).sort();

describe("crewstate prune on sqlite", () => {
  const setup = async (ws: Workspace) => {
    const url = `sqlite:${ws.path("state.db")}`;
    return { url, before: await seedInto(url) };
  };

  it("removes finished runs older than 30 days by default, one line each with the bytes freed, then a total", async (context) => {
    const ws = testWorkspace(context);
    const { url, before } = await setup(ws);
    const result = await ws.run(["prune", "--store", url]);
    expect(result.code, result.stderr).toBe(0);
    const lines = linesOf(result.stdout);
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^removed "b-old-done" \(beta, completed, updated \S+\): \d+ B freed$/);
    expect(lines[1]).toMatch(/^removed "a-old-done" \(alpha, completed, updated \S+\): \d+ B freed$/);
    expect(lines[2]).toMatch(/^removed "a-old-failed" \(alpha, failed, updated \S+\): \d+ B freed$/);
    expect(lines[3]).toMatch(/^removed 3 runs: \d+(\.\d)? k?B freed in all$/);
    const after = await exports(url);
    expect(gone(after)).toEqual(["a-old-done", "a-old-failed", "b-old-done"]);
    for (const [id, d] of after) if (d) expect(d).toEqual(before.get(id));
  });

  it("--keep-last per crew, --crew and --status", async (context) => {
    const ws = testWorkspace(context);
    const { url } = await setup(ws);
    expect((await ws.run(["prune", "--keep-last", "1", "--crew", "beta", "--store", url])).code).toBe(0);
    expect(gone(await exports(url))).toEqual(["b-old-done"]);
    expect((await ws.run(["prune", "--older-than", "0d", "--status", "failed", "--store", url])).code).toBe(0);
    expect(gone(await exports(url))).toEqual(["a-old-failed", "b-old-done"]);
    const last = await ws.run(["prune", "--keep-last", "0", "--older-than", "12h", "--store", url]);
    expect(last.code, last.stderr).toBe(0);
    // Running and paused runs stay whatever the rules say.
    expect(gone(await exports(url))).toEqual(["a-new-done", "a-old-done", "a-old-failed", "b-mid-done", "b-old-done"]);
  });

  it("--dry-run says what would go and changes nothing", async (context) => {
    const ws = testWorkspace(context);
    const { url, before } = await setup(ws);
    const result = await ws.run(["prune", "--older-than", "30d", "--dry-run", "--store", url]);
    expect(result.code, result.stderr).toBe(0);
    expect(linesOf(result.stdout)).toEqual([
      expect.stringMatching(/^would remove "b-old-done" \(beta, completed, updated \S+\)$/),
      expect.stringMatching(/^would remove "a-old-done"/),
      expect.stringMatching(/^would remove "a-old-failed"/),
      "would remove 3 runs; nothing changed (dry run)",
    ]);
    expect(await exports(url)).toEqual(before);
  });

  it("--journals keeps the runs, drops their completed tasks' journals, and says they no longer serve as a cassette", async (context) => {
    const ws = testWorkspace(context);
    const { url, before } = await setup(ws);
    const result = await ws.run(["prune", "--journals", "--store", url]);
    expect(result.code, result.stderr).toBe(0);
    const lines = linesOf(result.stdout);
    expect(lines[0]).toMatch(/^dropped the journals of "b-old-done" .*: \d+ B freed$/);
    expect(lines.at(-1)).toBe("those runs can still be resumed, but no longer serve as a cassette (--replay-from)");
    const after = await exports(url);
    expect(gone(after)).toEqual([]);
    expect(after.get("b-old-done")!.calls).toEqual([]);
    expect(after.get("b-old-done")!.run).toEqual(before.get("b-old-done")!.run);
    expect(after.get("b-mid-done")).toEqual(before.get("b-mid-done"));
  });

  it("--vacuum gives the space back: the file shrinks", async (context) => {
    const ws = testWorkspace(context);
    const url = `sqlite:${ws.path("state.db")}`;
    const store = await openStore(url);
    const big = "x".repeat(20_000);
    for (let i = 0; i < 50; i++) {
      const d = dump(`old-${i}`, "alpha", "completed", 40);
      d.run.inputs = { notes: big };
      await store.importRun(d);
    }
    await store.close();
    const size = () => statSync(ws.path("state.db")).size + (existsSync(ws.path("state.db-wal")) ? statSync(ws.path("state.db-wal")).size : 0);
    const before = size();
    const result = await ws.run(["prune", "--vacuum", "--store", url]);
    expect(result.code, result.stderr).toBe(0);
    expect(linesOf(result.stdout).at(-2)).toMatch(/^removed 50 runs: 1\.\d MB freed in all$/);
    expect(linesOf(result.stdout).at(-1)).toBe(`vacuumed ${ws.path("state.db")}`);
    expect(size()).toBeLessThan(before / 4);
    expect(statSync(ws.path("state.db")).mode & 0o777).toBe(0o600);
  });

  it("refuses bad flags in one line naming the flag, exits non-zero and changes nothing", async (context) => {
    const ws = testWorkspace(context);
    const { url, before } = await setup(ws);
    const cases: [string[], string][] = [
      [["--older-than", "30"], '--older-than "30" is not a duration'],
      [["--older-than", "2y"], '--older-than "2y" is not a duration'],
      [["--status", "running"], '--status "running": running runs are never pruned'],
      [["--status", "done"], '--status "done" is not a run status'],
      [["--keep-last", "-1"], '--keep-last "-1" is not a whole number'],
      [["--keep-last", "two"], '--keep-last "two" is not a whole number'],
    ];
    for (const [flags, message] of cases) {
      const result = await ws.run(["prune", ...flags, "--store", url]);
      expect(result.code, flags.join(" ")).not.toBe(0);
      expect(linesOf(result.stderr), flags.join(" ")).toEqual([expect.stringContaining(message)]);
      expect(result.stdout).toBe("");
    }
    expect(await exports(url)).toEqual(before);
  });
});

describe("crewstate prune on json", () => {
  it("compacts the file afterwards: no journal left, the removed runs gone from the file, the file 0600", async (context) => {
    const ws = testWorkspace(context);
    const url = `json:${ws.path("state.json")}`;
    const before = await seedInto(url);
    const result = await ws.run(["prune", "--store", url]);
    expect(result.code, result.stderr).toBe(0);
    expect(existsSync(ws.path("state.json.journal"))).toBe(false);
    const text = readFileSync(ws.path("state.json"), "utf8");
    expect(text).not.toContain("b-old-done");
    expect(text).toContain("b-mid-done");
    expect(statSync(ws.path("state.json")).mode & 0o777).toBe(0o600);
    const after = await exports(url);
    expect(gone(after)).toEqual(["a-old-done", "a-old-failed", "b-old-done"]);
    expect(after.get("a-new-done")).toEqual(before.get("a-new-done"));
  });

  it("--vacuum is for sqlite only: refused before anything changes", async (context) => {
    const ws = testWorkspace(context);
    const url = `json:${ws.path("state.json")}`;
    const before = await seedInto(url);
    const result = await ws.run(["prune", "--vacuum", "--store", url]);
    expect(result.code).not.toBe(0);
    expect(linesOf(result.stderr)).toEqual([expect.stringContaining("--vacuum is for sqlite: stores")]);
    expect(await exports(url)).toEqual(before);
  });
});

describe("crewstate prune under umask 000", () => {
  it("leaves every file of the store 0600 (sqlite after VACUUM, json after compaction), and no temp file behind", async (context) => {
    const ws = testWorkspace(context);
    const previous = process.umask(0);
    try {
      for (const [url, dir] of [
        [`sqlite:${ws.path("s", "state.db")}`, ws.path("s")],
        [`json:${ws.path("j", "state.json")}`, ws.path("j")],
      ] as const) {
        await seedInto(url);
        const result = await ws.run(["prune", ...(url.startsWith("sqlite") ? ["--vacuum"] : []), "--store", url]);
        expect(result.code, result.stderr).toBe(0);
        const files = readdirSync(dir);
        expect(files.filter((f) => /tmp|temp/i.test(f)), url).toEqual([]);
        for (const file of files) expect(statSync(`${dir}/${file}`).mode & 0o777, `${url}: ${file}`).toBe(0o600);
        expect(statSync(dir).mode & 0o777).toBe(0o700);
      }
    } finally {
      process.umask(previous);
    }
  });
});
