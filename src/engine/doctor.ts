import { eventsPerTask } from "./task-events.js";
import { resolve } from "node:path";
import { isCrewstateError, messageOf } from "../errors.js";
import { checkRunId } from "../stores/codec.js";
import { redactUrl } from "../redact.js";
import { openStore } from "../stores/open.js";
import { scanWal } from "../stores/sqlite/wal.js";
import type { EventType, Run, RunEvent, RunStatus, RunSummary, Store, TaskStatus } from "../stores/store.js";

/**
 * `crewstate doctor`: checks that a store's state is whole — what a store cannot see while it
 * serves reads one at a time. Every check reads; nothing is repaired or written.
 *
 * On every store: each task's output against its output hash, each run's event log (numbered
 * 1, 2, 3… without gaps), each task record against the last event about it, each run's status
 * against its last run event, and the run list's counts against the records. On SQLite also the
 * file itself (`PRAGMA integrity_check`) and, before anything opens it, the `-wal` file for
 * committed transactions SQLite is about to drop (see `stores/sqlite/wal.ts`).
 */

export interface DoctorFinding {
  runId: string | null;
  task: string | null;
  /** One line that names the store, run and task at fault. */
  message: string;
}

export interface DoctorReport {
  store: string;
  runs: number;
  tasks: number;
  events: number;
  findings: DoctorFinding[];
}

/** The events that write a task record in each status: the last task event about a record must be one of them. */
const WRITTEN_BY: Record<TaskStatus, readonly EventType[] | null> = {
  completed: ["task_completed", "task_reused", "task_edited", "task_approved"],
  skipped: ["task_skipped", "task_reused"],
  failed: ["task_failed"],
  running: ["task_started", "task_stale", "task_retry"],
  pending: null, // a claim without a start writes no event
};

/** The run events that leave a run in each status. */
const RUN_STATUS_SET_BY: Record<RunStatus, readonly EventType[]> = {
  running: ["run_started", "run_planned"],
  completed: ["run_completed"],
  failed: ["run_failed"],
  paused: ["run_paused"],
};

/** Opens the store at `url` read-only, checks it (or one run of it), and closes it. */
export async function diagnoseStore(url: string, options: { runId?: string } = {}): Promise<DoctorReport> {
  const findings: DoctorFinding[] = [];
  const sqlitePath = /^sqlite:([^?]+)/i.exec(url)?.[1];
  if (sqlitePath !== undefined) {
    // Before anything opens the file: opening replays the WAL, and the next write overwrites what it dropped.
    for (const problem of scanWal(resolve(sqlitePath))?.problems ?? []) findings.push({ runId: null, task: null, message: problem });
  }
  const shown = redactUrl(url);
  let store: Store;
  try {
    store = await openStore(url, { mustExist: true, readOnly: true });
  } catch (error) {
    // Damage that keeps the store from opening at all is one more finding, after its cause.
    if (findings.length === 0) throw error;
    findings.push({ runId: null, task: null, message: messageOf(error) });
    return { store: shown, runs: 0, tasks: 0, events: 0, findings };
  }
  try {
    const file = store as Store & { integrityProblems?: () => string[] };
    for (const problem of file.integrityProblems?.() ?? []) findings.push({ runId: null, task: null, message: problem });
    const report = await diagnoseRuns(store, options.runId);
    return { ...report, store: shown, findings: [...findings, ...report.findings] };
  } finally {
    await store.close();
  }
}

/** The store-independent checks, over the `Store` interface: every run, or the one named. */
export async function diagnoseRuns(store: Store, runId?: string): Promise<DoctorReport> {
  const report: DoctorReport = { store: store.location, runs: 0, tasks: 0, events: 0, findings: [] };
  const summaries = await store.listRuns();
  const chosen = runId === undefined ? summaries : summaries.filter((s) => s.runId === checkRunId(runId));
  if (runId !== undefined && chosen.length === 0) {
    report.findings.push({ runId, task: null, message: `${store.location}: run "${runId}" not found` });
  }
  for (const summary of chosen) {
    const found = (task: string | null, message: string) =>
      report.findings.push({ runId: summary.runId, task, message: `${store.location}: run "${summary.runId}"${task === null ? "" : ` task "${task}"`}: ${message}` });
    report.runs++;
    let run: Run | undefined;
    let events: RunEvent[];
    try {
      run = await store.getRun(summary.runId);
      events = await store.events(summary.runId);
    } catch (error) {
      // A stored output that fails its hash (CORRUPT_STATE) and anything else unreadable.
      const context = isCrewstateError(error) ? error.context : {};
      report.findings.push({ runId: summary.runId, task: typeof context.task === "string" ? context.task : null, message: messageOf(error) });
      continue;
    }
    if (run === undefined) {
      found(null, "is listed but cannot be read");
      continue;
    }
    report.tasks += run.tasks.length;
    report.events += events.length;
    for (const problem of checkRun(run, summary, events)) found(problem.task, problem.message);
  }
  return report;
}

/** The checks of one run that was read whole; pure. */
export function checkRun(run: Run, summary: RunSummary, events: RunEvent[]): { task: string | null; message: string }[] {
  const problems: { task: string | null; message: string }[] = [];
  const problem = (task: string | null, message: string) => problems.push({ task, message });

  events.forEach((event, i) => {
    if (event.seq !== i + 1) problem(event.task, `event ${i + 1} of ${events.length} has sequence number ${event.seq}: the log has a gap or is out of order`);
    if (event.runId !== run.runId) problem(event.task, `event ${event.seq} belongs to run "${event.runId}"`);
  });

  const done = run.tasks.filter((t) => t.status === "completed" || t.status === "skipped").length;
  if (summary.taskCount !== run.tasks.length || summary.completedCount !== done) {
    problem(null, `the run list counts ${summary.completedCount} of ${summary.taskCount} task(s) done, but the records hold ${done} of ${run.tasks.length}`);
  }
  if (summary.status !== run.status) problem(null, `the run list says ${summary.status}, the run says ${run.status}`);

  // A run with no events comes from a layout that kept none (the tutorial's JSON file): nothing to compare.
  if (events.length === 0) return problems;

  const lastTaskEvent = new Map<string, RunEvent>();
  let lastRunEvent: RunEvent | undefined;
  for (const event of eventsPerTask(events)) {
    if (event.type.startsWith("task_") && event.task !== null) lastTaskEvent.set(event.task, event);
    if (event.type in RUN_STATUS_SET_BY_EVENT) lastRunEvent = event;
  }
  // Imported and forked runs hold records whose events stayed in the run they came from.
  const imported = events.some((e) => e.type === "run_imported" || e.type === "run_forked");

  for (const task of run.tasks) {
    const expected = WRITTEN_BY[task.status];
    // Records adopted without an input hash, and imported runs, may predate their events.
    if (expected === null || task.inputHash === null || imported) continue;
    const last = lastTaskEvent.get(task.name);
    if (last === undefined) problem(task.name, `the record is ${task.status}, but no event records it: the commit that wrote it is missing from the log`);
    else if (!expected.includes(last.type)) problem(task.name, `the record is ${task.status}, but the last event about it (${last.seq}) is ${last.type}: a commit is missing`);
  }
  const recorded = new Set(run.tasks.map((t) => t.name));
  for (const [task, last] of lastTaskEvent) {
    if (!recorded.has(task) && last.type !== "task_invalidated") problem(task, `event ${last.seq} (${last.type}) is about a task that has no record`);
  }

  if (lastRunEvent !== undefined && !imported && !RUN_STATUS_SET_BY[run.status].includes(lastRunEvent.type)) {
    problem(null, `the run is ${run.status}, but its last run event (${lastRunEvent.seq}) is ${lastRunEvent.type}: a commit is missing`);
  }
  return problems;
}

const RUN_STATUS_SET_BY_EVENT: Partial<Record<EventType, true>> = Object.fromEntries(
  Object.values(RUN_STATUS_SET_BY).flatMap((types) => types.map((type) => [type, true])),
);
