import { Hono, type Context } from "hono";
import { CrewstateError, isCrewstateError, messageOf } from "../errors.js";
import { addUsage, emptyUsage, ledgerOf, savedSoFar, spentSoFar } from "../engine/ledger.js";
import { approveTask, editTaskOutput, requireRun, requireTask } from "../engine/operator.js";
import { progressOf } from "../engine/progress.js";
import { giveFeedback, invalidate } from "../flow/operator.js";
import { isFork } from "../runs/lineage.js";
import type { RunStatus, RunSummary, Store } from "../stores/store.js";
import type { ChangeFeed } from "./changes.js";
import { callsOf, changedOf, timelineOf } from "./views.js";

const STATUSES: readonly RunStatus[] = ["running", "completed", "failed", "paused"];
const EVENTS_SHOWN = 500;

/** The dashboard's JSON API over one store (see docs/ui.md): reads, and the CLI's own operator actions. */
export function apiRoutes(store: Store, location: string, version: string, feed: ChangeFeed): Hono {
  const api = new Hono();

  api.get("/info", (c) => c.json({ store: location, version }));

  api.get("/runs", async (c) => {
    const status = c.req.query("status") || undefined;
    if (status !== undefined && !STATUSES.includes(status as RunStatus)) throw badRequest(`status ${JSON.stringify(status)} is none of ${STATUSES.join(", ")}`);
    const q = c.req.query("q") ?? "";
    const offset = whole(c.req.query("offset"), 0, "offset");
    const limit = Math.min(whole(c.req.query("limit"), 50, "limit"), 200);
    const matching = (await feed.runs()).filter((r) => (status === undefined || r.status === status) && r.runId.includes(q));
    const page = await Promise.all(matching.slice(offset, offset + limit).map((summary) => runRow(store, summary)));
    return c.json({ total: matching.length, offset, limit, runs: page });
  });

  api.get("/runs/:runId", async (c) => {
    const run = await requireRun(store, c.req.param("runId"));
    const events = await store.events(run.runId);
    const children: RunSummary[] = [];
    const forks: RunSummary[] = [];
    for (const r of (await feed.runs()).filter((r) => r.parent?.runId === run.runId).reverse()) (isFork(await store.events(r.runId)) ? forks : children).push(r);
    const { tasks: _tasks, ...header } = run;
    // A flow's tokens are spent by the crews its steps kicked off.
    const spent = await spentSoFar(store, run.runId, run.tasks.map((t) => t.name), events);
    const saved = savedSoFar(events);
    for (const child of run.kind === "flow" ? children : []) {
      const ledger = await ledgerOf(store, child.runId);
      addUsage(spent, ledger.spent);
      addUsage(saved, ledger.saved);
    }
    return c.json({
      run: header,
      tasks: timelineOf(run, events),
      totals: { spent, saved },
      children: children.map((r) => ({ runId: r.runId, status: r.status, parentTask: r.parent?.task ?? null })),
      forks: forks.map((r) => ({ runId: r.runId, status: r.status, at: r.parent?.task ?? null })),
      events: events.slice(-EVENTS_SHOWN),
    });
  });

  api.get("/runs/:runId/tasks/:task", async (c) => {
    const run = await requireRun(store, c.req.param("runId"));
    const task = requireTask(run, c.req.param("task"), store);
    const events = await store.events(run.runId);
    return c.json({ task, changed: changedOf(events, task.name), calls: callsOf(await store.calls(run.runId, task.name), events, task.name, task.model) });
  });

  api.post("/runs/:runId/tasks/:task/:action", async (c) => {
    const runId = c.req.param("runId");
    const task = c.req.param("task");
    const body = await bodyOf(c);
    await requireRun(store, runId);
    const before = (await store.events(runId)).length;
    switch (c.req.param("action")) {
      case "invalidate":
        await invalidate(store, runId, task);
        break;
      case "edit":
        if (typeof body.output !== "string") throw badRequest('edit needs { "output": "…" }');
        await editTaskOutput(store, runId, task, body.output);
        break;
      case "approve":
        await approveTask(store, runId, task);
        break;
      case "feedback": {
        const verdict = body.verdict === "approved" || body.verdict === "rejected" ? body.verdict : undefined;
        if (body.verdict !== undefined && verdict === undefined) throw badRequest('feedback\'s verdict is "approved" or "rejected"');
        await giveFeedback(store, runId, task, { text: typeof body.text === "string" ? body.text : undefined, verdict });
        break;
      }
      default:
        throw new CrewstateError("INVALID_INPUT", `no action ${JSON.stringify(c.req.param("action"))}: invalidate, edit, approve or feedback`);
    }
    const events = await store.events(runId);
    return c.json({ ok: true, event: events.slice(before).at(-1) ?? null });
  });

  api.onError((error, c) => c.json({ error: messageOf(error) }, statusOf(error)));
  return api;
}

/** A run as the runs list shows it: progress, tokens and cost of its current results, who holds it. */
async function runRow(store: Store, summary: RunSummary) {
  const { run, done, total, holders } = await progressOf(store, summary);
  const usage = emptyUsage();
  for (const task of run?.tasks ?? []) addUsage(usage, task.usage);
  return {
    runId: summary.runId,
    crew: summary.crew,
    kind: summary.kind,
    parent: summary.parent,
    status: summary.status,
    done,
    total,
    attempts: summary.attempts,
    tokens: { input: usage.inputTokens, output: usage.outputTokens },
    costUsd: usage.costUsd,
    holders,
    createdAt: summary.createdAt,
    updatedAt: summary.updatedAt,
    error: summary.error,
  };
}

async function bodyOf(c: Context): Promise<{ [key: string]: unknown }> {
  const text = await c.req.text();
  if (text.trim() === "") return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw badRequest(`the request body is not JSON: ${messageOf(error)}`);
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw badRequest("the request body must be a JSON object");
  return body as { [key: string]: unknown };
}

function whole(text: string | undefined, fallback: number, name: string): number {
  if (text === undefined || text === "") return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw badRequest(`${name} must be a whole number ≥ 0, got ${JSON.stringify(text)}`);
  return value;
}

function badRequest(message: string): CrewstateError {
  return new CrewstateError("INVALID_INPUT", message);
}

function statusOf(error: unknown): 400 | 404 | 409 | 500 {
  if (isCrewstateError(error, "RUN_NOT_FOUND") || isCrewstateError(error, "TASK_NOT_FOUND")) return 404;
  if (isCrewstateError(error, "FENCED_OUT") || isCrewstateError(error, "LEASE_HELD")) return 409;
  if (isCrewstateError(error)) return 400;
  return 500;
}
