import { crashPoint } from "../engine/crash-points.js";
import { isCrewstateError, messageOf } from "../errors.js";
import { defaultLogger, type Logger } from "../log.js";
import { queuedRunIds } from "../queue/run-queue.js";
import type { RunSummary, Store } from "../stores/store.js";
import { planPrune, retentionRules, type PruneRules, type RetentionOptions } from "./prune-plan.js";

export interface PruneOptions {
  /** The time ages are measured from; default now. */
  now?: number;
  /** Decide and report, change nothing. */
  dryRun?: boolean;
  /** Keep the runs; drop their completed tasks' call journals instead. */
  journals?: boolean;
  /** The store's URL, to read its crews' queues (postgres: pg-boss, redis: BullMQ); none: no queue is read. */
  storeUrl?: string;
  /** Runs never removed. */
  protect?: ReadonlySet<string>;
  /** Told of each run as it is removed (or would be). */
  onRemoved?: (run: RunSummary, bytes: number | null) => void;
}

export interface PruneReport {
  /** Removed (or, dry, that would be), oldest first, with the payload bytes freed (null: not told). */
  removed: { run: RunSummary; bytes: number | null }[];
  /** Selected by the rules but kept, and why (a queued job, busy when its commit came…). */
  kept: { run: RunSummary; reason: string }[];
  /** The bytes freed in all; null when no run's could be told (or on a dry run). */
  bytes: number | null;
}

/**
 * Removes the runs `rules` select — each in its own commit, which the store refuses (RUN_BUSY)
 * for a run that became busy since it was listed: such a run is kept and said so. Between two
 * commits are the crash points `pruning` (before one) and `pruned` (after it): a crash leaves
 * each run whole or gone. A JSON store is compacted afterwards, so the removed runs leave its file.
 */
export async function pruneRuns(store: Store, rules: PruneRules, options: PruneOptions = {}): Promise<PruneReport> {
  const now = options.now ?? Date.now();
  const runs = await store.listRuns();
  const first = planPrune(runs, rules, { now, protect: options.protect });
  const queued = new Set<string>();
  if (options.storeUrl !== undefined) {
    const crews = new Set(first.filter((d) => d.keptBecause === undefined).map((d) => d.run.crew));
    for (const crew of crews) for (const id of await queuedRunIds(options.storeUrl, crew)) queued.add(id);
  }
  const decisions = planPrune(runs, rules, { now, protect: options.protect, queued });
  const report: PruneReport = { removed: [], kept: [], bytes: null };
  for (const { run, keptBecause } of decisions) {
    if (keptBecause !== undefined) {
      report.kept.push({ run, reason: keptBecause });
      continue;
    }
    let bytes: number | null = null;
    if (!options.dryRun) {
      crashPoint("pruning");
      try {
        bytes = (options.journals ? await store.dropJournals(run.runId) : await store.deleteRun(run.runId)).bytes;
      } catch (error) {
        if (!isCrewstateError(error, "RUN_BUSY") && !isCrewstateError(error, "RUN_NOT_FOUND")) throw error;
        report.kept.push({ run, reason: messageOf(error) });
        continue;
      }
      crashPoint("pruned");
      if (bytes !== null) report.bytes = (report.bytes ?? 0) + bytes;
    }
    report.removed.push({ run, bytes });
    options.onRemoved?.(run, bytes);
  }
  if (!options.dryRun && report.removed.length > 0) await compactIfJson(store);
  return report;
}

/** The JSON store's compaction, now: the file alone holds the state, without the removed runs. */
async function compactIfJson(store: Store): Promise<void> {
  const compactNow = (store as { compactNow?: () => Promise<void> }).compactNow;
  if (typeof compactNow === "function") await compactNow.call(store);
}

// ---- Retention: a store's or a crew's rules, applied when a run ends. ----

const retentionByStore = new WeakMap<Store, { rules: PruneRules; url: string | undefined }>();

/** Gives an opened store its retention rules (checked: INVALID_INPUT names what is wrong). */
export function setStoreRetention(store: Store, retention: RetentionOptions, url?: string): void {
  retentionByStore.set(store, { rules: retentionRules(retention), url });
}

/** The retention rules a store was opened with, if any. */
export function storeRetention(store: Store): { rules: PruneRules; url: string | undefined } | undefined {
  return retentionByStore.get(store);
}

/**
 * Applies retention after run `runId` has committed its final status: the crew's rules, else the
 * store's. The run just finished is never removed. A failure is logged as a warning and never
 * fails the run. Returns the report, or undefined when there are no rules or they failed.
 */
export async function applyRetention(
  store: Store,
  runId: string,
  crewRetention: RetentionOptions | undefined,
  logger: Pick<Logger, "warn" | "info"> | undefined,
  storeUrl?: string,
): Promise<PruneReport | undefined> {
  const own = storeRetention(store);
  if (crewRetention === undefined && own === undefined) return undefined;
  const log = logger ?? defaultLogger();
  try {
    const rules = crewRetention !== undefined ? retentionRules(crewRetention) : own!.rules;
    const url = storeUrl ?? own?.url ?? queueUrlOf(store);
    const report = await pruneRuns(store, rules, { protect: new Set([runId]), storeUrl: url });
    if (report.removed.length > 0) log.info({ removed: report.removed.map((r) => r.run.runId), bytes: report.bytes }, "retention removed runs");
    return report;
  } catch (error) {
    const message = `retention failed (the run is not affected): ${messageOf(error)}`;
    log.warn({ err: error }, message);
    process.emitWarning(`crewstate: ${message}`, { code: "CREWSTATE_RETENTION" });
    return undefined;
  }
}

/** A server store's URL as its location shows it (without password), to read its queue by. */
function queueUrlOf(store: Store): string | undefined {
  return /^(postgres|postgresql|redis|rediss):/i.test(store.location) ? store.location : undefined;
}
