import { CrewstateError, quote } from "../errors.js";
import { outputHashOf } from "../hash.js";
import { invalidateTask, operatorName, requireRun } from "../engine/operator.js";
import type { JsonValue, Run, Store, TaskRecord } from "../stores/store.js";
import type { Feedback } from "./flow.js";
import { FLOW_RECORD, inExecutionOrder, parseExecutionKey, questionOf, readStepPayload } from "./step-record.js";

export interface FeedbackInput {
  text?: string;
  verdict?: "approved" | "rejected";
}

/**
 * Records a person's answer to a feedback step waiting in a paused flow run: who said what, and
 * when, in the step's record (one commit with a `step_feedback` event). The next run goes on with
 * `{ output, feedback }` as the step's result. `step` is a step (its waiting execution) or an
 * execution (`ask#2`).
 */
export async function giveFeedback(store: Store, runId: string, step: string, input: FeedbackInput, by = operatorName()): Promise<TaskRecord> {
  if ((input.text === undefined || input.text.trim() === "") && input.verdict === undefined) {
    throw new CrewstateError("INVALID_INPUT", "feedback says nothing: give --text, --approve or --reject");
  }
  const run = await requireRun(store, runId);
  if (run.kind !== "flow") {
    throw new CrewstateError("INVALID_INPUT", `run ${quote(runId)} is a crew run; feedback answers a flow's feedback step (a crew task under review takes \`crewstate approve\`)`, { runId });
  }
  const record = waitingRecord(run, step);
  const payload = readStepPayload(runId, record);
  const feedback: Feedback = { text: input.text ?? null, verdict: input.verdict ?? null, by, at: new Date().toISOString() };
  const { awaiting: _question, ...answered } = payload;
  const structured = { ...answered, feedback } as unknown as JsonValue;
  const updated: TaskRecord = { ...record, status: "completed", structured, outputHash: outputHashOf(record.output ?? "", structured) };
  await store.saveTask(runId, updated, { type: "step_feedback", data: { ...feedback } });
  return updated;
}

function waitingRecord(run: Run, step: string): TaskRecord {
  const isWaiting = (t: TaskRecord) => questionOf(t) !== null;
  const waiting = run.tasks.filter(isWaiting);
  const named = run.tasks.filter((t) => t.name === step || parseExecutionKey(t.name)?.step === step);
  const found = named.filter(isWaiting);
  if (found.length === 1) return found[0]!;
  const elsewhere = waiting.length > 0 ? `; waiting: ${waiting.map((t) => t.name).join(", ")}` : "; no step of it waits for feedback";
  if (named.length === 0) {
    throw new CrewstateError("TASK_NOT_FOUND", `flow run ${quote(run.runId)} has no step ${quote(step)}${elsewhere}`, { runId: run.runId, task: step });
  }
  throw new CrewstateError("INVALID_INPUT", `step ${quote(step)} of flow run ${quote(run.runId)} is not waiting for feedback${elsewhere}`, { runId: run.runId, task: step });
}

/**
 * Removes a step's executions (`write`: all of them; `write#2`: that one), so the next run reruns
 * them; what listens to them reruns only if their results change. One commit per execution.
 */
export async function invalidateStep(store: Store, runId: string, step: string, by = operatorName()): Promise<TaskRecord[]> {
  const run = await requireRun(store, runId);
  const records = run.tasks.filter((t) => t.name === step || parseExecutionKey(t.name)?.step === step);
  if (records.length === 0 || step === FLOW_RECORD) {
    const steps = [...new Set(inExecutionOrder(run.tasks).map((t) => parseExecutionKey(t.name)?.step).filter((s) => s !== undefined))];
    throw new CrewstateError("TASK_NOT_FOUND", `flow run ${quote(runId)} has no step ${quote(step)}${steps.length ? `; its steps: ${steps.join(", ")}` : " (no step has run yet)"}`, {
      runId,
      task: step,
    });
  }
  for (const record of records) {
    await store.removeTask(runId, record.name, { type: "task_invalidated", data: { previousStatus: record.status, by, kind: "step" } });
  }
  return records;
}

/**
 * What `crewstate invalidate` and the dashboard do: in a crew run, removes the task's result; in a
 * flow run, the step's executions (see `invalidateStep`). Returns the records removed.
 */
export async function invalidate(store: Store, runId: string, name: string, by = operatorName()): Promise<{ kind: Run["kind"]; removed: TaskRecord[] }> {
  const { kind } = await requireRun(store, runId);
  return { kind, removed: kind === "flow" ? await invalidateStep(store, runId, name, by) : [await invalidateTask(store, runId, name, by)] };
}
