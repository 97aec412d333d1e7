import { isCrewstateError, quote } from "../errors.js";
import { checkRunId } from "../stores/codec.js";
import { openStore } from "../stores/open.js";
import type { Inputs, Run, Store } from "../stores/store.js";
import type { Flow } from "./flow.js";
import { parseState } from "./state.js";
import { questionOf, readStepPayload, resultOf } from "./step-record.js";
import { FlowWalk, sameStepInputs, staleReason } from "./walk.js";

export interface PlannedStep {
  /** The step execution, e.g. `review#2`. */
  name: string;
  action: "reuse" | "run" | "rerun" | "wait";
  /** The action in words, as `run` would say it. */
  explanation: string;
}

export interface FlowPlan {
  runId: string;
  kind: "flow";
  exists: boolean;
  steps: PlannedStep[];
  /** What comes after the last planned step, when it can only be known by running it. */
  then: string | null;
}

/**
 * What a run of the flow would do, step execution by step execution, without running anything:
 * the stored executions it would reuse, and the first one it would run and why. What follows that
 * one depends on its result (and, after a router, on its label), so the plan stops there.
 */
export async function planFlow(flow: Flow, storeOrUrl: Store | string, options: { runId: string; inputs?: Inputs }): Promise<FlowPlan> {
  flow.check();
  const runId = checkRunId(options.runId);
  if (options.inputs !== undefined) parseState(flow, options.inputs, `the inputs of flow run ${quote(runId)}`);
  if (typeof storeOrUrl !== "string") return planAgainst(flow, runId, await storeOrUrl.getRun(runId), options.inputs, storeOrUrl.hasher);
  const store = await openStore(storeOrUrl, { mustExist: true, readOnly: true }).catch((error: unknown) => {
    if (isCrewstateError(error, "STORE_NOT_FOUND")) return undefined;
    throw error;
  });
  if (!store) return planAgainst(flow, runId, undefined, options.inputs);
  try {
    return planAgainst(flow, runId, await store.getRun(runId), options.inputs, store.hasher);
  } finally {
    await store.close();
  }
}

function planAgainst(flow: Flow, runId: string, run: Run | undefined, inputs: Inputs | undefined, hasher?: (hash: string) => string): FlowPlan {
  const walk = new FlowWalk(flow, parseState(flow, inputs ?? run?.inputs ?? {}, `the inputs of flow run ${quote(runId)}`), hasher);
  const stored = new Map((run?.tasks ?? []).map((t) => [t.name, t]));
  const steps: PlannedStep[] = [];
  for (let execution = walk.next(); execution; execution = walk.next()) {
    const record = stored.get(execution.key);
    const payload = record ? readStepPayload(runId, record) : undefined;
    const matches = record !== undefined && sameStepInputs(record, payload, execution);
    if (matches && record.status === "completed" && payload) {
      steps.push({ name: execution.key, action: "reuse", explanation: payload.feedback ? "reuse (with the feedback given)" : "reuse" });
      walk.done(execution, { result: resultOf(payload), state: payload.state, label: payload.label });
      continue;
    }
    if (matches && questionOf(record) !== null) {
      steps.push({ name: execution.key, action: "wait", explanation: `wait for feedback: \`crewstate feedback ${runId} ${execution.step.name} --text …\`` });
      return { runId, kind: "flow", exists: run !== undefined, steps, then: null };
    }
    const why = staleReason(payload?.parts ?? null, execution.parts);
    steps.push({ name: execution.key, action: record ? "rerun" : "run", explanation: record ? `rerun: ${why}` : "run: new" });
    const next = execution.step.kind === "router" ? "the steps its label picks" : "what listens to it";
    return { runId, kind: "flow", exists: run !== undefined, steps, then: `${next}: decided once ${execution.key} has run` };
  }
  return { runId, kind: "flow", exists: run !== undefined, steps, then: null };
}
