import { canonicalJson } from "../hash.js";
import { changedParts, partsByTask, type HashParts } from "../engine/plan.js";
import { FLOW_RECORD } from "../flow/step-record.js";
import type { StepHashParts } from "../flow/walk.js";
import type { Inputs, JsonValue, Run, RunEvent, RunKind, RunParent, RunStatus, TaskRecord, TaskStatus, TokenUsage } from "../stores/store.js";
import { runOrder } from "./fork-dump.js";
import { unifiedDiff } from "./text-diff.js";

/** How two runs differ, task by task. Pure: the caller reads both runs. */
export interface RunDiff {
  a: RunSide;
  b: RunSide;
  /** Input keys whose values differ (or that one run lacks). */
  inputsChanged: string[];
  /** Run a's tasks in its order (a flow: step executions, then its own record), then those only b has. */
  tasks: TaskDiff[];
  /** The tasks that differ in any way: only one run has them, or status, input hash or output differ. */
  differing: string[];
}

export interface RunSide {
  runId: string;
  crew: string;
  kind: RunKind;
  status: RunStatus;
  parent: RunParent | null;
  inputs: Inputs;
}

export interface TaskDiff {
  name: string;
  /** Which runs hold a record of the task. */
  in: "both" | "a" | "b";
  status: { a: TaskStatus | null; b: TaskStatus | null };
  /** `changed`: what differs between the hashes' parts, in `plan`'s words ("input notes", "upstream output"…). */
  inputHash: { a: string | null; b: string | null; same: boolean; changed: string[] };
  /** `diff`: a unified diff of the output text from a to b; empty when the texts are equal. */
  output: { same: boolean; diff: string };
  usage: { a: TokenUsage | null; b: TokenUsage | null };
}

export interface DiffSide {
  run: Run;
  events: RunEvent[];
}

export function diffRuns(a: DiffSide, b: DiffSide): RunDiff {
  const names = [...new Set([...orderOf(a), ...orderOf(b)])];
  const records = (side: DiffSide) => new Map(side.run.tasks.map((t) => [t.name, t]));
  const [recordsA, recordsB] = [records(a), records(b)];
  const [partsA, partsB] = [partsByTask(a.events), partsByTask(b.events)];
  const tasks = names.map((name) => {
    const [ta, tb] = [recordsA.get(name), recordsB.get(name)];
    const changed = ta && tb && ta.inputHash !== tb.inputHash ? partsChanged(ta, tb, partsA.get(name), partsB.get(name)) : [];
    return taskDiff(name, ta, tb, changed, [`a/${a.run.runId}/${name}`, `b/${b.run.runId}/${name}`]);
  });
  const inputs = [...new Set([...Object.keys(a.run.inputs), ...Object.keys(b.run.inputs)])];
  return {
    a: sideOf(a.run),
    b: sideOf(b.run),
    inputsChanged: inputs.filter((key) => !(key in a.run.inputs) || !(key in b.run.inputs) || canonicalJson(a.run.inputs[key]) !== canonicalJson(b.run.inputs[key])),
    tasks,
    differing: tasks.filter((t) => t.in !== "both" || t.status.a !== t.status.b || !t.inputHash.same || !t.output.same).map((t) => t.name),
  };
}

function orderOf(side: DiffSide): string[] {
  const held = new Set(side.run.tasks.map((t) => t.name));
  const order = runOrder(side).filter((name) => held.has(name));
  return held.has(FLOW_RECORD) && side.run.kind === "flow" ? [...order, FLOW_RECORD] : order;
}

function taskDiff(name: string, a: TaskRecord | undefined, b: TaskRecord | undefined, changed: string[], labels: [string, string]): TaskDiff {
  const both = a !== undefined && b !== undefined;
  const hashed = both && a.outputHash !== null && b.outputHash !== null && !stepParts(a.structured);
  const sameOutput = both && (hashed ? a.outputHash === b.outputHash : resultOf(a) === resultOf(b));
  return {
    name,
    in: both ? "both" : a ? "a" : "b",
    status: { a: a?.status ?? null, b: b?.status ?? null },
    inputHash: { a: a?.inputHash ?? null, b: b?.inputHash ?? null, same: both && a.inputHash === b.inputHash, changed },
    output: { same: sameOutput, diff: both ? unifiedDiff(a.output ?? "", b.output ?? "", labels) : "" },
    usage: { a: a?.usage ?? null, b: b?.usage ?? null },
  };
}

/** What differs between the parts two records were hashed from: a crew task's from the events, a flow step's from its record. */
function partsChanged(a: TaskRecord, b: TaskRecord, fromEventsA: HashParts | undefined, fromEventsB: HashParts | undefined): string[] {
  const [stepA, stepB] = [stepParts(a.structured), stepParts(b.structured)];
  if (stepA && stepB) {
    const changed: string[] = [];
    if (stepA.version !== stepB.version) changed.push("the step's code");
    if (stepA.state !== stepB.state) changed.push("the state it starts from");
    if (stepA.trigger !== stepB.trigger) changed.push("the result it listens to");
    return changed;
  }
  if (!fromEventsB) return ["unknown (no record of the inputs in run b)"];
  return changedParts(fromEventsA, fromEventsB);
}

/** What a record produced, comparably: a step execution's result, label and state (its record also keeps the hash parts), else output and structured output. */
function resultOf(record: TaskRecord): string {
  const value = record.structured;
  if (stepParts(value) && typeof value === "object" && value !== null && !Array.isArray(value)) {
    return canonicalJson([record.output, value.result ?? null, value.label ?? null, value.state ?? null]);
  }
  return canonicalJson([record.output, value]);
}

function stepParts(structured: JsonValue | null): StepHashParts | undefined {
  if (typeof structured !== "object" || structured === null || Array.isArray(structured) || structured.kind !== "step") return undefined;
  const parts = structured.parts;
  if (typeof parts !== "object" || parts === null || Array.isArray(parts)) return undefined;
  const { version, state, trigger } = parts;
  if (typeof version !== "string" || typeof state !== "string" || (trigger !== null && typeof trigger !== "string")) return undefined;
  return { version, state, trigger };
}

function sideOf(run: Run): RunSide {
  return { runId: run.runId, crew: run.crew, kind: run.kind, status: run.status, parent: run.parent, inputs: run.inputs };
}
