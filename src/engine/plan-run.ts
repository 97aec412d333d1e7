import type { Crew } from "../model/crew.js";
import { checkRunId } from "../stores/codec.js";
import { isCrewstateError } from "../errors.js";
import { openStore } from "../stores/open.js";
import type { Inputs, Run, RunEvent, Store } from "../stores/store.js";
import {
  changedParts,
  decide,
  describeDecision,
  EMPTY_DIGEST,
  foldUpstream,
  inputHashOf,
  isResult,
  partsByTask,
  storedOutputHash,
  upstreamDigest,
  type Decision,
  type HashParts,
} from "./plan.js";
import { prepareTasks, type PreparedTask } from "./prepare.js";
import { contextOf, scheduleOf } from "./schedule.js";

export interface PlannedTask {
  name: string;
  decision: Decision;
  /** The decision in words: "reuse", "run: new", "rerun: stale because input notes changed"… */
  explanation: string;
}

export interface RunPlan {
  runId: string;
  exists: boolean;
  tasks: PlannedTask[];
  /** Stored tasks the crew no longer has. */
  orphaned: string[];
}

/**
 * What a kickoff of `runId` would do for each task, and why — without running anything. A task
 * downstream of one that will run can only be judged once that output exists; it is reported as
 * depending on it.
 */
export async function planRun(
  crew: Crew,
  storeOrUrl: Store | string,
  options: { runId: string; inputs?: Inputs; model?: string },
): Promise<RunPlan> {
  const runId = checkRunId(options.runId);
  const tasks = await prepareTasks(crew, { ...(options.inputs ?? {}) }, options.model, { offline: true });
  // A URL is opened only once the crew and inputs check out, and only to read.
  if (typeof storeOrUrl === "string") {
    const store = await openStore(storeOrUrl, { mustExist: true, readOnly: true }).catch((error: unknown) => {
      if (isCrewstateError(error, "STORE_NOT_FOUND")) return undefined;
      throw error;
    });
    if (!store) return planAgainst(tasks, runId, undefined, async () => []);
    try {
      const run = await store.getRun(runId);
      return await planAgainst(tasks, runId, run, () => store.events(runId), store.hasher);
    } finally {
      await store.close();
    }
  }
  const run = await storeOrUrl.getRun(runId);
  return planAgainst(tasks, runId, run, () => storeOrUrl.events(runId), storeOrUrl.hasher);
}

/** `events` is read only if some stored result is stale and the plan must say what changed. */
async function planAgainst(tasks: PreparedTask[], runId: string, run: Run | undefined, events: () => Promise<RunEvent[]>, hasher?: (hash: string) => string): Promise<RunPlan> {
  const stored = new Map((run?.tasks ?? []).map((t) => [t.name, t]));
  let loaded: RunEvent[] | undefined;
  const runEvents = async () => (loaded ??= run ? await events() : []);
  let parts: Map<string, HashParts> | undefined;
  const lastParts = async (name: string) => (parts ??= partsByTask(await runEvents())).get(name);

  const slots = scheduleOf(tasks.map((t) => ({ asyncExecution: t.task.asyncExecution, conditional: t.conditional, context: t.context })));
  const names = tasks.map((t) => t.name);
  const outputHashes: (string | null)[] = [];
  const prefixDigests: (string | null)[] = [EMPTY_DIGEST];
  const planned: PlannedTask[] = [];
  for (const task of tasks) {
    const slot = slots[task.index]!;
    const upstream = upstreamDigest(slot, names, outputHashes, prefixDigests);
    const record = stored.get(task.name);
    let decision: Decision;
    if (upstream !== null) {
      const current: HashParts = { ...task.parts, upstream };
      const inputHash = inputHashOf(current, hasher);
      const stale = isResult(record) && record!.inputHash !== null && record!.inputHash !== inputHash;
      decision = decide(record, inputHash, stale ? await lastParts(task.name) : undefined, current);
    } else if (isResult(record) && record!.inputHash !== null) {
      const before = await lastParts(task.name);
      const changed = before ? changedParts(before, { ...task.parts, upstream: before.upstream }) : [];
      const pending = [...contextOf(slot), ...(slot.previous === null ? [] : [slot.previous])].filter((i) => outputHashes[i] === null);
      decision = changed.length > 0 ? { action: "run", reason: "stale", changed } : { action: "run", reason: "upstream", changed: [...new Set(pending)].map((i) => names[i]!) };
    } else {
      decision = decide(record, "", undefined, { ...task.parts, upstream: "" });
    }
    const outputHash = decision.action === "reuse" ? storedOutputHash(record!) : null;
    outputHashes.push(outputHash);
    const digest = prefixDigests[prefixDigests.length - 1]!;
    prefixDigests.push(digest !== null && outputHash !== null ? foldUpstream(digest, task.name, outputHash) : null);
    let explanation = describeDecision(decision, record?.status === "skipped");
    if (decision.action === "run" && decision.reason === "new" && run) {
      const invalidated = lastInvalidation(await runEvents(), task.name);
      if (invalidated) explanation = `run: invalidated by ${invalidated.by} at ${invalidated.at}`;
    }
    if (decision.action === "run" && task.conditional) explanation += " — if its condition says yes, else skipped";
    planned.push({ name: task.name, decision, explanation });
  }
  const known = new Set(names);
  return { runId, exists: run !== undefined, tasks: planned, orphaned: (run?.tasks ?? []).map((t) => t.name).filter((n) => !known.has(n)) };
}

/** Who removed a task's result and when, if removing it is the last thing that happened to the task. */
function lastInvalidation(events: RunEvent[], task: string): { by: string; at: string } | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const event = events[i]!;
    if (event.task !== task) continue;
    if (event.type !== "task_invalidated") return undefined;
    const by = event.data?.by;
    return { by: typeof by === "string" ? by : "an operator", at: event.at.replace("T", " ").replace(/\.\d+Z$/, "Z") };
  }
  return undefined;
}
