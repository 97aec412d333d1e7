import type { RunEvent } from "../stores/store.js";

/**
 * A run's event log as a list of events about single tasks: a `tasks_reused` event (many tasks
 * kept in one commit) reads as one `task_reused` event of each task it names, with its seq and time.
 */
export function eventsPerTask(events: readonly RunEvent[]): RunEvent[] {
  const out: RunEvent[] = [];
  for (const event of events) {
    if (event.type !== "tasks_reused") {
      out.push(event);
      continue;
    }
    const tasks = Array.isArray(event.data?.tasks) ? event.data.tasks.filter((t): t is string => typeof t === "string") : [];
    const adopted = new Set(Array.isArray(event.data?.adopted) ? event.data.adopted : []);
    for (const task of tasks) out.push({ ...event, type: "task_reused", task, data: { adopted: adopted.has(task) } });
  }
  return out;
}
