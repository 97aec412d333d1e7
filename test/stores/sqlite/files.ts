import { createHash } from "node:crypto";
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onTestFinished } from "vitest";
import { SqliteStore } from "../../../src/stores/sqlite/store.js";
import { newTaskRecord } from "../../../src/stores/store.js";
import { outputHashOf } from "../../../src/hash.js";

/** A temp folder for the current test: removed when it passes, kept and named when it fails. */
export function tempDir(label = "sqlite"): string {
  const dir = mkdtempSync(join(tmpdir(), `crewstate-${label}-`));
  onTestFinished(({ task }) => {
    if (task.result?.state === "fail") console.warn(`kept ${dir} of the failed test`);
    else rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Every entry under `dir`, by relative path: a file's SHA-256, a link's target, or "dir". */
export function snapshot(dir: string): Record<string, string> {
  const seen: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const path = join(rel, name);
      const stat = lstatSync(join(dir, path));
      if (stat.isSymbolicLink()) seen[path] = `-> ${readlinkSync(join(dir, path))}`;
      else if (stat.isDirectory()) {
        seen[path] = "dir";
        walk(path);
      } else seen[path] = createHash("sha256").update(readFileSync(join(dir, path))).digest("hex");
    }
  };
  walk("");
  return seen;
}

/** A closed database holding run "r" of crew "c" with `tasks` completed tasks, made by the store itself. */
export async function populated(file: string, tasks = 1): Promise<void> {
  const store = await SqliteStore.open(file);
  try {
    await store.beginRun({ runId: "r", crew: "c", inputs: {} });
    for (let i = 0; i < tasks; i++) {
      const output = `output ${i}`;
      await store.saveTask("r", { ...newTaskRecord(`t${i}`), status: "completed", output, outputHash: outputHashOf(output, null) }, { type: "task_completed" });
    }
  } finally {
    await store.close();
  }
}
