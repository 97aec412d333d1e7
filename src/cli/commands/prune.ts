import type { Command } from "commander";
import { CrewstateError, quote } from "../../errors.js";
import { redactUrl } from "../../redact.js";
import { DEFAULT_OLDER_THAN, DEFAULT_PRUNE_STATUSES, parseDuration, parseKeepLast, parseStatuses, type PruneRules } from "../../runs/prune-plan.js";
import { pruneRuns } from "../../runs/prune.js";
import { storeUrlFrom } from "../../stores/open.js";
import type { RunSummary } from "../../stores/store.js";
import { withStore } from "../with-store.js";

interface PruneFlags {
  olderThan?: string;
  status?: string;
  keepLast?: string;
  crew?: string;
  dryRun?: boolean;
  journals?: boolean;
  vacuum?: boolean;
  store?: string;
}

export function registerPrune(program: Command): void {
  program
    .command("prune")
    .description("delete finished runs (or only their call journals) by age, status, count and crew; never running or paused runs, nor runs a queued job names")
    .option("--older-than <duration>", `only runs last updated longer ago than this: 90m, 12h, 30d, 2w (default ${DEFAULT_OLDER_THAN} when --keep-last is not given)`)
    .option("--status <list>", `only runs of these statuses: completed, failed (default ${DEFAULT_PRUNE_STATUSES.join(",")})`)
    .option("--keep-last <n>", "keep the newest n runs of each crew")
    .option("--crew <name>", "only runs of this crew (or flow)")
    .option("--dry-run", "say what would be removed; change nothing")
    .option("--journals", "keep the runs; drop their completed tasks' call journals (they can still be resumed, no longer replayed with --replay-from)")
    .option("--vacuum", "sqlite: VACUUM the file afterwards, giving the space back")
    .option("--store <url>", "where state lives")
    .action(async (flags: PruneFlags) => {
      // Every flag is checked before the store is opened: a bad one changes nothing.
      const rules = rulesFrom(flags);
      const url = storeUrlFrom(flags.store);
      if (flags.vacuum && !/^sqlite:/i.test(url)) {
        throw new CrewstateError("INVALID_INPUT", `--vacuum is for sqlite: stores; ${quote(redactUrl(url))} is not one`, { store: redactUrl(url) });
      }
      const dry = flags.dryRun === true;
      const verb = flags.journals ? (dry ? "would drop the journals of" : "dropped the journals of") : dry ? "would remove" : "removed";
      const out = (line: string) => process.stdout.write(`${line}\n`);
      await withStore(url, async (store) => {
        const report = await pruneRuns(store, rules, {
          dryRun: dry,
          journals: flags.journals === true,
          storeUrl: url,
          onRemoved: (run, bytes) => out(`${verb} ${describe(run)}${dry ? "" : `: ${freed(bytes)}`}`),
        });
        for (const { run, reason } of report.kept) out(`kept ${quote(run.runId)}: ${reason}`);
        const n = report.removed.length;
        const runs = `${n} run${n === 1 ? "" : "s"}`;
        if (dry) out(`${verb} ${runs}; nothing changed (dry run)`);
        else out(`${verb} ${runs}: ${freed(report.bytes)} in all`);
        if (flags.journals && n > 0) {
          out(`${dry ? "those runs could" : "those runs can"} still be resumed, but no longer serve as a cassette (--replay-from)`);
        }
        if (flags.vacuum && !dry) {
          (store as unknown as { vacuum(): void }).vacuum();
          out(`vacuumed ${store.location}`);
        }
      });
    });
}

function rulesFrom(flags: PruneFlags): PruneRules {
  const rules: PruneRules = { statuses: flags.status === undefined ? [...DEFAULT_PRUNE_STATUSES] : parseStatuses(flags.status) };
  if (flags.keepLast !== undefined) rules.keepLast = parseKeepLast(flags.keepLast);
  if (flags.olderThan !== undefined) rules.olderThanMs = parseDuration(flags.olderThan);
  else if (rules.keepLast === undefined) rules.olderThanMs = parseDuration(DEFAULT_OLDER_THAN);
  if (flags.crew !== undefined) {
    if (flags.crew.length === 0) throw new CrewstateError("INVALID_INPUT", "--crew names no crew");
    rules.crew = flags.crew;
  }
  return rules;
}

function describe(run: RunSummary): string {
  return `${quote(run.runId)} (${run.crew || "-"}, ${run.status}, updated ${run.updatedAt})`;
}

/** Bytes for people: 812 B, 1.2 kB, 3.4 MB; "bytes freed unknown" when the store cannot tell. */
export function freed(bytes: number | null): string {
  if (bytes === null) return "bytes freed unknown";
  if (bytes < 1000) return `${bytes} B freed`;
  if (bytes < 1_000_000) return `${(bytes / 1000).toFixed(1)} kB freed`;
  return `${(bytes / 1_000_000).toFixed(1)} MB freed`;
}
