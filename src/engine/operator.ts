import os from "node:os";
import { CrewstateError, quote } from "../errors.js";
import { checkTaskName } from "../stores/codec.js";
import type { JsonValue, Run, RunEvent, Store, TaskRecord } from "../stores/store.js";
import { usageOfCalls, usageToJson } from "./ledger.js";
import { outputHashOf } from "../hash.js";

/**
 * What an operator does to a stored run between kickoffs. Each is one store commit with its event,
 * so the event log says who changed what.
 */

export async function requireRun(store: Store, runId: string): Promise<Run> {
  const run = await store.getRun(runId);
  if (!run) {
    throw new CrewstateError("RUN_NOT_FOUND", `run ${quote(runId)} not found in ${store.location}; \`crewstate runs\` lists the runs there`, {
      runId,
      store: store.location,
    });
  }
  return run;
}

export function requireTask(run: Run, task: string, store: Store): TaskRecord {
  checkTaskName(task);
  const record = run.tasks.find((t) => t.name === task);
  if (!record) {
    const known = run.tasks.map((t) => t.name);
    throw new CrewstateError(
      "TASK_NOT_FOUND",
      `run ${quote(run.runId)} has no task ${quote(task)}${known.length ? `; its tasks: ${known.join(", ")}` : " (no task has run yet)"}`,
      { runId: run.runId, task, store: store.location },
    );
  }
  return record;
}

/** Who acts on a run from this process, as events record it: `user@host`. */
export function operatorName(): string {
  let user = process.env.USER ?? process.env.USERNAME ?? "";
  try {
    user = os.userInfo().username || user;
  } catch {
    // No passwd entry (some containers): the environment's name, if any.
  }
  return `${user || "unknown"}@${os.hostname()}`;
}

/** Removes one task's result, so the next kickoff reruns exactly that task; `by` names who did (default: this user and host). */
export async function invalidateTask(store: Store, runId: string, task: string, by = operatorName()): Promise<TaskRecord> {
  const run = await requireRun(store, runId);
  const record = requireTask(run, task, store);
  // The journal goes with the task; what it cost stays on the run's ledger through the event.
  const discarded = usageOfCalls(await store.calls(runId, task));
  await store.removeTask(runId, task, { type: "task_invalidated", data: { previousStatus: record.status, by, discardedUsage: usageToJson(discarded) } });
  return record;
}

/**
 * Replaces a task's result with an operator's text (and structured value). The task stays
 * completed under its input hash, so the next kickoff keeps the edit; tasks that read its output
 * see a new output hash and rerun.
 */
export async function editTaskOutput(
  store: Store,
  runId: string,
  task: string,
  output: string,
  structured: JsonValue | null = null,
): Promise<TaskRecord> {
  const run = await requireRun(store, runId);
  if (run.kind === "flow") {
    throw new CrewstateError("INVALID_INPUT", `run ${quote(runId)} is a flow run: a step's result is not edited; invalidate the step to rerun it, or answer a waiting step with \`crewstate feedback\``, {
      runId,
      task,
    });
  }
  const record = requireTask(run, task, store);
  if (record.status !== "completed") {
    throw new CrewstateError(
      "INVALID_INPUT",
      `task ${quote(task)} of run ${quote(runId)} is ${record.status}; only a completed task's output can be edited (let it complete, or invalidate it)`,
      { runId, task },
    );
  }
  const edited: TaskRecord = { ...record, output, structured, outputHash: outputHashOf(output, structured) };
  await store.saveTask(runId, edited, { type: "task_edited", data: { previousOutputHash: record.outputHash, outputHash: edited.outputHash } });
  return edited;
}

/** Approves a completed task's current output, releasing a run held for human review. */
export async function approveTask(store: Store, runId: string, task: string): Promise<TaskRecord> {
  const run = await requireRun(store, runId);
  const record = requireTask(run, task, store);
  if (record.status !== "completed") {
    throw new CrewstateError("INVALID_INPUT", `task ${quote(task)} of run ${quote(runId)} is ${record.status}; only a completed task can be approved`, { runId, task });
  }
  await store.saveTask(runId, record, { type: "task_approved", data: { outputHash: record.outputHash } });
  return record;
}

/** Whether a person approved (or wrote) exactly this output of the task. */
export function isApproved(events: RunEvent[], task: string, outputHash: string | null): boolean {
  return events.some(
    (e) => e.task === task && (e.type === "task_approved" || e.type === "task_edited") && e.data?.outputHash === outputHash && outputHash !== null,
  );
}
