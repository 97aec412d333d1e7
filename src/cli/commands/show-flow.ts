import { ledgerOf, savedSoFar, spentSoFar } from "../../engine/ledger.js";
import { FLOW_RECORD, inExecutionOrder, parseExecutionKey, questionOf, readStepPayload } from "../../flow/step-record.js";
import type { JsonValue, Run, RunEvent, RunSummary, Store, TaskRecord } from "../../stores/store.js";
import { parentLine, relativesOf } from "../../runs/lineage.js";
import { oneLine, table, when } from "../format.js";

interface ChildLink {
  runId: string;
  status: string;
  tokens: number;
}

/** A flow run's step executions in order, each with what it did and the crew runs it kicked off. */
export async function showFlow(store: Store, run: Run, events: RunEvent[], options: { json?: boolean; events?: boolean }): Promise<string> {
  const { children } = await relativesOf(store, run.runId);
  const tokensOf = async (child: RunSummary) => {
    const { spent } = await ledgerOf(store, child.runId);
    return spent.inputTokens + spent.outputTokens;
  };
  const links = new Map<string, ChildLink[]>();
  for (const child of children) {
    const key = child.parent?.task ?? "";
    links.set(key, [...(links.get(key) ?? []), { runId: child.runId, status: child.status, tokens: await tokensOf(child) }]);
  }
  const steps = inExecutionOrder(run.tasks).map((record) => stepView(run.runId, record, links.get(record.name) ?? []));
  const flowRecord = run.tasks.find((t) => t.name === FLOW_RECORD);
  const last = [...steps].reverse().find((s) => s.state !== undefined);
  const state = flowRecord?.status === "completed" ? flowRecord.structured : (last?.state ?? run.inputs);
  const ledger = { spent: await spentSoFar(store, run.runId, run.tasks.map((t) => t.name), events), saved: savedSoFar(events) };
  if (options.json) {
    const tasks = [...(flowRecord ? [{ ...flowRecord, kind: "flow" }] : []), ...steps.map(({ state: _state, ...s }) => s)];
    return JSON.stringify({ ...run, store: store.location, tasks, state, children: children.map((c) => c.runId), ledger, ...(options.events ? { events } : {}) }, null, 2);
  }
  const lines = [
    `flow run ${run.runId} · flow ${run.crew} · ${run.status} · kickoff ${run.attempts} · updated ${when(run.updatedAt)}`,
    `state: ${store.location}`,
  ];
  const parent = parentLine(run, events);
  if (parent) lines.push(parent);
  if (run.error) lines.push(`error: ${oneLine(run.error, 200)}`);
  if (flowRecord?.worker && flowRecord.leaseExpiresAt) lines.push(`held by ${flowRecord.worker} (token #${flowRecord.fencingToken}) until ${when(flowRecord.leaseExpiresAt)}`);
  const rows = steps.map((s) => [
    s.name,
    s.awaiting !== null ? "waiting for feedback" : s.status,
    s.label !== null ? `→ ${s.label}` : s.feedback ? oneLine(`${s.feedback.verdict ?? "answered"} by ${s.feedback.by}${s.feedback.text ? `: ${s.feedback.text}` : ""}`, 48) : oneLine(s.output, 48),
    s.children.map((c) => `${c.runId} (${c.status}, ${c.tokens} tokens)`).join(", ") || "-",
    when(s.completedAt),
  ]);
  lines.push("", table(["STEP", "STATUS", "RESULT", "CREW RUNS", "COMMITTED"], rows));
  lines.push("", `flow state: ${oneLine(JSON.stringify(state), 200)}`);
  const waiting = steps.find((s) => s.awaiting !== null);
  if (waiting) lines.push(`${waiting.name} asks: ${waiting.awaiting} — answer with \`crewstate feedback ${run.runId} ${waiting.step} --text "…"\` (or --approve / --reject)`);
  const childTokens = [...links.values()].flat().reduce((sum, c) => sum + c.tokens, 0);
  lines.push(`spent: ${childTokens} tokens in the ${children.length} crew run(s) its steps kicked off`);
  if (options.events) lines.push("", table(["SEQ", "AT", "EVENT", "STEP"], events.map((e) => [String(e.seq), when(e.at), e.type, e.task ?? ""])));
  return lines.join("\n");
}

function stepView(runId: string, record: TaskRecord, children: ChildLink[]) {
  const key = parseExecutionKey(record.name);
  let payload: ReturnType<typeof readStepPayload> | undefined;
  try {
    payload = readStepPayload(runId, record);
  } catch {
    payload = undefined;
  }
  return {
    ...record,
    kind: "step" as const,
    step: key?.step ?? record.name,
    iteration: key?.iteration ?? null,
    label: payload?.label ?? null,
    awaiting: questionOf(record),
    feedback: payload?.feedback ?? null,
    children,
    state: payload?.state as JsonValue | undefined,
  };
}
