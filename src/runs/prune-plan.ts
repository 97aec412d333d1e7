import { CrewstateError, quote } from "../errors.js";
import type { RunStatus, RunSummary } from "../stores/store.js";

/**
 * Which runs a prune (or a store's retention) removes: pure, so `crewstate prune`, `--dry-run` and
 * retention at the end of a run all decide alike. See docs/retention.md.
 */
export interface PruneRules {
  /** Only runs last updated more than this long ago (milliseconds). */
  olderThanMs?: number;
  /** Keeps the newest N runs (by `updatedAt`) of each crew among those of the selected statuses. */
  keepLast?: number;
  /** The statuses a run may have to go; never `running` or `paused`. Default: completed, failed. */
  statuses: RunStatus[];
  /** Only runs of this crew (or flow). */
  crew?: string;
}

/** What a store's `retention` option, or a crew's, says: the same rules as `crewstate prune`'s flags. */
export interface RetentionOptions {
  /** A duration (`30d`, `12h`, `90m`, `2w`) or milliseconds. */
  olderThan?: string | number;
  keepLast?: number;
  /** `"completed,failed"` or a list; default completed and failed. */
  status?: string | RunStatus[];
}

export const DEFAULT_PRUNE_STATUSES: readonly RunStatus[] = ["completed", "failed"];
/** Without `--older-than` or `--keep-last`, a prune removes only runs older than this. */
export const DEFAULT_OLDER_THAN = "30d";

const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `30d`, `12h`, `90m`, `2w` in milliseconds; anything else is INVALID_INPUT naming it. */
export function parseDuration(text: string, what = "--older-than"): number {
  const match = /^(\d{1,9})([mhdw])$/.exec(String(text).trim());
  if (!match) {
    throw new CrewstateError("INVALID_INPUT", `${what} ${quote(text)} is not a duration: write a whole number and a unit, m h d or w (90m, 12h, 30d, 2w)`);
  }
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}

/** A comma-separated list of run statuses that may be pruned: completed and failed. */
export function parseStatuses(text: string | readonly string[], what = "--status"): RunStatus[] {
  const names = (typeof text === "string" ? text.split(",") : [...text]).map((s) => String(s).trim()).filter((s) => s.length > 0);
  if (names.length === 0) throw new CrewstateError("INVALID_INPUT", `${what} names no status: use completed, failed or both`);
  for (const name of names) {
    if (name === "running" || name === "paused") {
      throw new CrewstateError("INVALID_INPUT", `${what} ${quote(name)}: ${name} runs are never pruned (they may still change); use completed, failed or both`);
    }
    if (name !== "completed" && name !== "failed") {
      throw new CrewstateError("INVALID_INPUT", `${what} ${quote(name)} is not a run status a prune takes: use completed, failed or both`);
    }
  }
  return [...new Set(names)] as RunStatus[];
}

/** A whole number ≥ 0. */
export function parseKeepLast(value: string | number, what = "--keep-last"): number {
  const text = String(value).trim();
  if (!/^\d{1,9}$/.test(text)) throw new CrewstateError("INVALID_INPUT", `${what} ${quote(value)} is not a whole number ≥ 0`);
  return Number(text);
}

/** Retention options as prune rules, every value checked (INVALID_INPUT naming the one at fault). */
export function retentionRules(options: RetentionOptions): PruneRules {
  if (typeof options !== "object" || options === null) throw new CrewstateError("INVALID_INPUT", "retention must be an object { olderThan?, keepLast?, status? }");
  const rules: PruneRules = { statuses: options.status === undefined ? [...DEFAULT_PRUNE_STATUSES] : parseStatuses(options.status, "retention.status") };
  if (options.olderThan !== undefined) {
    if (typeof options.olderThan === "number") {
      if (!Number.isSafeInteger(options.olderThan) || options.olderThan < 0) throw new CrewstateError("INVALID_INPUT", `retention.olderThan ${options.olderThan} is not a whole number of milliseconds ≥ 0`);
      rules.olderThanMs = options.olderThan;
    } else {
      rules.olderThanMs = parseDuration(options.olderThan, "retention.olderThan");
    }
  }
  if (options.keepLast !== undefined) rules.keepLast = parseKeepLast(options.keepLast, "retention.keepLast");
  if (rules.olderThanMs === undefined && rules.keepLast === undefined) {
    throw new CrewstateError("INVALID_INPUT", "retention needs olderThan, keepLast or both: without either it would keep nothing");
  }
  return rules;
}

export interface PruneDecision {
  run: RunSummary;
  /** Why a run the rules select is kept anyway; undefined for a run to remove. */
  keptBecause?: string;
}

export interface PlanOptions {
  /** The time ages are measured from (ms since the epoch). */
  now: number;
  /** Runs a queued job still names: never removed. */
  queued?: ReadonlySet<string>;
  /** Runs never removed (the run retention just finished). */
  protect?: ReadonlySet<string>;
}

/**
 * The runs the rules select, oldest first: a run goes when its status is one of `statuses`, its
 * crew is `crew` (when given), it was last updated more than `olderThanMs` ago (when given), and
 * it is not among the newest `keepLast` of its crew's runs of those statuses (when given). A
 * selected run a queued job names, or that is protected, is listed with why it is kept. Running
 * and paused runs are never selected, whatever `statuses` says.
 */
export function planPrune(runs: readonly RunSummary[], rules: PruneRules, options: PlanOptions): PruneDecision[] {
  const eligible = runs.filter(
    (r) => r.status !== "running" && r.status !== "paused" && rules.statuses.includes(r.status) && (rules.crew === undefined || r.crew === rules.crew),
  );
  const newest = (a: RunSummary, b: RunSummary) => (a.updatedAt < b.updatedAt ? 1 : a.updatedAt > b.updatedAt ? -1 : a.runId < b.runId ? 1 : -1);
  const keptByCount = new Set<string>();
  if (rules.keepLast !== undefined) {
    const byCrew = new Map<string, RunSummary[]>();
    for (const run of eligible) byCrew.set(run.crew, [...(byCrew.get(run.crew) ?? []), run]);
    for (const list of byCrew.values()) for (const run of list.sort(newest).slice(0, rules.keepLast)) keptByCount.add(run.runId);
  }
  const cutoff = rules.olderThanMs === undefined ? undefined : new Date(options.now - rules.olderThanMs).toISOString();
  const selected = eligible.filter((r) => !keptByCount.has(r.runId) && (cutoff === undefined || r.updatedAt < cutoff));
  return selected.sort(newest).reverse().map((run): PruneDecision => {
    if (options.protect?.has(run.runId)) return { run, keptBecause: "it is the run just finished" };
    if (options.queued?.has(run.runId)) return { run, keptBecause: "a queued job still names it" };
    return { run };
  });
}
