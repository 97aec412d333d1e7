import { canonicalJson } from "../hash.js";
import { CrewstateError, quote } from "../errors.js";
import { partsByTask } from "../engine/plan.js";
import { inCrewOrder, lastPlanned } from "../engine/planned.js";
import { FLOW_RECORD, inExecutionOrder, parseExecutionKey } from "../flow/step-record.js";
import type { Inputs, JsonValue, Run, RunDump, RunStatus, TaskRecord } from "../stores/store.js";

export interface ForkSpec {
  runId: string;
  /** The task (a flow: the step, or one execution `write#2`) from which on nothing is copied. */
  at: string | null;
  /** Inputs laid over the source's. */
  inputs: Inputs;
  /** The fork's creation time, ISO-8601. */
  now: string;
}

export interface ForkedDump {
  dump: RunDump;
  /** Tasks (a flow: step executions) copied, in the run's order. */
  copied: string[];
  /** Tasks with a record in the source that the fork leaves out. */
  dropped: string[];
  /** Input keys whose values differ from the source's. */
  inputsChanged: string[];
}

/**
 * The run a fork writes, made from the source's dump. Pure: the caller reads the source and
 * writes the result.
 *
 * The fork keeps the source's results (and their journals) before `at`; `at` and everything after
 * it in the run's order is left out, so the fork's next kickoff runs it. Leases and fencing tokens
 * are the source's business and are cleared; a task the source was running is copied as pending,
 * its journal kept for the next kickoff to replay. The source's events stay the source's: the fork
 * starts its log with one `run_forked` event, which carries the plan and hash parts that a kickoff
 * and `plan` would otherwise read from the copied tasks' events.
 */
export function forkDump(source: RunDump, spec: ForkSpec): ForkedDump {
  const run = source.run;
  const order = runOrder(source);
  const cut = spec.at === null ? order.length : cutAt(run, order, spec.at);
  const kept = new Set(order.slice(0, cut));
  // A flow's own record holds its final state: only a whole copy keeps it.
  if (run.kind === "flow" && spec.at === null) kept.add(FLOW_RECORD);
  const tasks = run.tasks.filter((t) => kept.has(t.name)).map(withoutLease);
  const held = new Set(tasks.map((t) => t.name));
  const copied = order.filter((name) => held.has(name));
  const dropped = run.tasks.map((t) => t.name).filter((name) => !kept.has(name) && name !== FLOW_RECORD);

  const inputs: Inputs = { ...run.inputs, ...spec.inputs };
  const inputsChanged = Object.keys(inputs).filter((key) => !(key in run.inputs) || canonicalJson(run.inputs[key]) !== canonicalJson(inputs[key]));
  const { status, error } = forkStatus(run, spec.at, dropped, inputsChanged);

  const parts = partsByTask(source.events);
  const planned = run.kind === "flow" ? undefined : lastPlanned(source.events);
  const data: { [key: string]: JsonValue } = {
    from: run.runId,
    at: spec.at,
    copied,
    dropped,
    inputsChanged,
    planned: planned ? { tasks: planned.tasks, agents: planned.agents, endpoints: planned.endpoints } : null,
    parts: Object.fromEntries(copied.flatMap((name) => (parts.has(name) ? [[name, { ...parts.get(name)! }]] : []))),
  };
  const dump: RunDump = {
    run: {
      ...run,
      runId: spec.runId,
      parent: { runId: run.runId, task: spec.at },
      inputs,
      status,
      error,
      attempts: 0,
      createdAt: spec.now,
      updatedAt: spec.now,
      tasks,
    },
    events: [{ seq: 1, runId: spec.runId, task: null, type: "run_forked", at: spec.now, data }],
    calls: source.calls.filter((call) => kept.has(call.task)),
  };
  return { dump, copied, dropped, inputsChanged };
}

/** The run's tasks in order: a crew's as its last plan lists them (then any others), a flow's step executions as they ran. */
export function runOrder(source: Pick<RunDump, "run" | "events">): string[] {
  const { run, events } = source;
  if (run.kind === "flow") return inExecutionOrder(run.tasks).map((t) => t.name);
  const planned = lastPlanned(events);
  const recorded = inCrewOrder(run.tasks, planned).map((t) => t.name);
  if (!planned) return recorded;
  return [...planned.tasks, ...recorded.filter((name) => !planned.tasks.includes(name))];
}

function cutAt(run: Run, order: string[], at: string): number {
  const index = run.kind === "flow" ? order.findIndex((name) => name === at || parseExecutionKey(name)?.step === at) : order.indexOf(at);
  if (index >= 0) return index;
  const what = run.kind === "flow" ? "step" : "task";
  const known = run.kind === "flow" ? [...new Set(order.map((name) => parseExecutionKey(name)?.step ?? name))] : order;
  throw new CrewstateError(
    "TASK_NOT_FOUND",
    `run ${quote(run.runId)} has no ${what} ${quote(at)} to fork at${known.length ? `; its ${what}s: ${known.join(", ")}` : ` (no ${what} has run yet)`}`,
    { runId: run.runId, task: at },
  );
}

function withoutLease(task: TaskRecord): TaskRecord {
  return { ...task, status: task.status === "running" ? "pending" : task.status, worker: null, fencingToken: 0, leaseExpiresAt: null };
}

/**
 * A fork that is the source's state unchanged keeps its status; one that has work left for a kickoff
 * — the source was running, tasks were left out, inputs changed — is `failed`, saying why, as an
 * interrupted run would be.
 */
function forkStatus(run: Run, at: string | null, dropped: string[], inputsChanged: string[]): { status: RunStatus; error: string | null } {
  const left = (why: string) => ({ status: "failed" as const, error: `forked from run ${quote(run.runId)} ${why}` });
  if (run.status === "running") return left("while it was running; its unfinished tasks run at the fork's next kickoff");
  if (dropped.length > 0) return left(`at ${quote(at)}; the fork's next kickoff runs ${dropped.join(", ")}`);
  if (inputsChanged.length > 0) return left(`with changed inputs (${inputsChanged.join(", ")}); the fork's next kickoff reruns what they change`);
  return { status: run.status, error: run.error };
}
