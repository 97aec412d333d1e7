import { z } from "zod";
import { CrewstateError, quote } from "../errors.js";
import type { RunDump, Store } from "./store.js";

/**
 * Moving whole runs between stores: `crewstate export`, `import` and `migrate`. The wire format
 * is JSON Lines, one run per line, each checked against a schema before anything is written.
 */
export const DUMP_FORMAT = "crewstate-run/1";

const json: z.ZodType<unknown> = z.lazy(() => z.union([z.null(), z.boolean(), z.number(), z.string(), z.array(json), z.record(z.string(), json)]));
const usage = z.object({ inputTokens: z.number(), outputTokens: z.number(), costUsd: z.number().nullable().default(null) }).nullable();
const iso = z.string();

const taskSchema = z.object({
  name: z.string(),
  status: z.enum(["pending", "running", "completed", "failed", "skipped"]),
  inputHash: z.string().nullable(),
  output: z.string().nullable(),
  structured: json.nullable(),
  outputHash: z.string().nullable(),
  startedAt: iso.nullable(),
  completedAt: iso.nullable(),
  attempts: z.number().int().nonnegative(),
  error: z.string().nullable(),
  usage,
  model: z.string().nullable(),
  worker: z.string().nullable(),
  fencingToken: z.number().int().nonnegative(),
  leaseExpiresAt: iso.nullable(),
});

const dumpSchema = z.object({
  format: z.literal(DUMP_FORMAT),
  run: z.object({
    runId: z.string(),
    crew: z.string(),
    // Dumps made before runs had a kind and a parent hold crew runs without one.
    kind: z.enum(["crew", "flow"]).default("crew"),
    parent: z.object({ runId: z.string(), task: z.string().nullable() }).nullable().default(null),
    inputs: z.record(z.string(), json),
    status: z.enum(["running", "completed", "failed", "paused"]),
    attempts: z.number().int().nonnegative(),
    error: z.string().nullable(),
    createdAt: iso,
    updatedAt: iso,
    tasks: z.array(taskSchema),
  }),
  events: z.array(
    z.object({
      seq: z.number().int().positive(),
      runId: z.string(),
      task: z.string().nullable(),
      type: z.string(),
      at: iso,
      data: z.record(z.string(), json).nullable(),
    }),
  ),
  calls: z.array(
    z.object({
      task: z.string(),
      position: z.number().int().nonnegative(),
      kind: z.enum(["model", "tool"]),
      requestHash: z.string(),
      response: json,
      usage,
      at: iso,
    }),
  ),
});

export function encodeDump(dump: RunDump): string {
  return JSON.stringify({ format: DUMP_FORMAT, ...dump });
}

/** Parses an export; an invalid line is an error naming the source and the line. */
export function decodeDumps(text: string, source: string): RunDump[] {
  const dumps: RunDump[] = [];
  const seen = new Set<string>();
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    const where = `${source} line ${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new CrewstateError("CORRUPT_STATE", `${where} is not valid JSON: ${(error as Error).message}`, { path: source });
    }
    const parsed = dumpSchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new CrewstateError("CORRUPT_STATE", `${where} is not a crewstate run: ${issue.path.join(".") || "(top)"}: ${issue.message}`, { path: source });
    }
    const { format: _format, ...dump } = parsed.data;
    if (seen.has(dump.run.runId)) {
      throw new CrewstateError("INVALID_INPUT", `${where} repeats run ${quote(dump.run.runId)}`, { path: source, runId: dump.run.runId });
    }
    seen.add(dump.run.runId);
    dumps.push(dump as RunDump);
  });
  return dumps;
}

/**
 * The runs to export: the named ones (each must exist) or, with none named, every run. With
 * `sealed`, values sealed at rest stay sealed (see docs/encryption.md).
 */
export async function exportRuns(store: Store, runIds: string[], options: { sealed?: boolean } = {}): Promise<RunDump[]> {
  const ids = runIds.length > 0 ? runIds : (await store.listRuns()).map((r) => r.runId).reverse();
  const dumps: RunDump[] = [];
  for (const runId of ids) {
    const dump = await store.exportRun(runId, options.sealed === true ? { sealed: true } : {});
    if (!dump) throw new CrewstateError("RUN_NOT_FOUND", `run ${quote(runId)} not found in ${store.location}`, { runId, store: store.location });
    dumps.push(dump);
  }
  return dumps;
}

/**
 * Writes runs into a store. Without `overwrite`, refuses — before writing anything — when any of
 * them already exists there.
 */
export async function importRuns(store: Store, dumps: RunDump[], options: { overwrite?: boolean } = {}): Promise<void> {
  if (!options.overwrite) {
    const existing: string[] = [];
    for (const dump of dumps) if (await store.getRun(dump.run.runId)) existing.push(dump.run.runId);
    if (existing.length > 0) {
      throw new CrewstateError(
        "RUN_EXISTS",
        `${existing.length === 1 ? `run ${quote(existing[0])} already exists` : `runs ${existing.map((r) => quote(r)).join(", ")} already exist`} in ${store.location}; nothing was imported (pass --overwrite to replace)`,
        { runId: existing[0], store: store.location },
      );
    }
  }
  for (const dump of dumps) await store.importRun(dump, { overwrite: options.overwrite === true });
}
