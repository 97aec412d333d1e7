import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { CrewstateError, messageOf, quote } from "../errors.js";

/**
 * Writes a task's accepted output to its output file, unless the file already holds exactly
 * that: into a temporary file beside it, flushed, then renamed over it, so a reader (or a crash)
 * sees the old file or the new one, never half of one. Called after the result is committed, and
 * again on reuse, so a file lost to a crash between the two — or deleted since — comes back.
 */
export async function writeOutputFile(path: string, output: string, task: string, runId: string): Promise<boolean> {
  const current = await readFile(path, "utf8").catch(() => undefined);
  if (current === output) return false;
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    await mkdir(dirname(path), { recursive: true });
    const file = await open(temp, "wx");
    try {
      await file.writeFile(output, "utf8");
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
    return true;
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw new CrewstateError(
      "OUTPUT_FILE_FAILED",
      `the output file ${quote(path)} of task ${quote(task)} could not be written: ${messageOf(error)}; the result is saved — fix the path and run again to write it`,
      { runId, task, path },
      { cause: error },
    );
  }
}
