import type { JsonValue, RunEvent } from "../stores/store.js";
import type { PreparedTask } from "./prepare.js";

/** The crew's tasks at a run's last kickoff, in the crew's order, as its `run_planned` event recorded them. */
export interface PlannedTasks {
  tasks: string[];
  /** Who works each task (its agent's role, or the manager's), by task name. */
  agents: Record<string, string>;
  /** The host each model sent its requests to, by model id (the demo and model objects name none). */
  endpoints: Record<string, string>;
}

/**
 * What a kickoff records of the crew it runs, in its `run_planned` event (written with the run's
 * begin). Stored tasks the crew does not name are the run's orphans: kept, unused.
 */
export function plannedData(tasks: PreparedTask[]): { [key: string]: JsonValue } {
  const endpoints: Record<string, string> = {};
  for (const agent of tasks.flatMap((t) => [t.agent, ...(t.coworkers ?? [])])) {
    if (agent.model.endpoint !== null) endpoints[agent.model.id] = agent.model.endpoint;
  }
  return {
    tasks: tasks.map((t) => t.name),
    agents: Object.fromEntries(tasks.map((t) => [t.name, t.agent.role])),
    endpoints,
  };
}

/** The last kickoff's plan, or undefined for a run recorded before kickoffs wrote one. */
export function lastPlanned(events: RunEvent[]): PlannedTasks | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const event = events[i]!;
    if (event.type === "run_planned") return plannedFrom(event.data);
    // A fork not kicked off yet carries the plan of the run it was forked from.
    if (event.type === "run_forked") {
      const planned = event.data?.planned;
      return typeof planned === "object" && planned !== null && !Array.isArray(planned) ? plannedFrom(planned) : undefined;
    }
    if (event.type === "run_started") return undefined;
  }
  return undefined;
}

function plannedFrom(data: { [key: string]: JsonValue } | null): PlannedTasks {
  const found = data ?? {};
  return { tasks: names(found.tasks), agents: texts(found.agents), endpoints: texts(found.endpoints) };
}

/** Records in the crew's order, then any the crew does not have, in their stored order. */
export function inCrewOrder<T extends { name: string }>(records: T[], planned: PlannedTasks | undefined): T[] {
  if (!planned) return records;
  const position = new Map(planned.tasks.map((name, i) => [name, i]));
  const at = (record: T) => position.get(record.name) ?? planned.tasks.length;
  return records.map((record, i) => ({ record, i })).sort((a, b) => at(a.record) - at(b.record) || a.i - b.i).map(({ record }) => record);
}

function names(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((n): n is string => typeof n === "string") : [];
}

function texts(value: unknown): Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return {};
  return Object.fromEntries(Object.entries(value).filter((entry): entry is [string, string] => typeof entry[1] === "string"));
}
