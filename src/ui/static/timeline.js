// The timeline of a run: one row per task (or flow step), a bar from startedAt to completedAt
// (or now, while it runs) on an axis shared by all rows, so tasks that ran in parallel overlap.
import { badge, el, fmtDuration, taskLink } from "./api.js";

const TICKS = 5; // 0, ¼, ½, ¾ and the end (the end's label left out: it is the run's span)

function times(task, now) {
  const start = task.startedAt ? Date.parse(task.startedAt) : NaN;
  if (!Number.isFinite(start)) return null;
  let end = task.completedAt ? Date.parse(task.completedAt) : NaN;
  if (!Number.isFinite(end)) end = task.outcome === "running" || task.status === "running" ? now : start;
  return { start, end: Math.max(end, start) };
}

/** The timeline's element, for `tasks` as the API gives them; `selected` is the open task's name. */
export function renderTimeline(runId, tasks, selected, now = Date.now()) {
  const spans = tasks.map((task) => times(task, now));
  const known = spans.filter(Boolean);
  const t0 = known.length ? Math.min(...known.map((s) => s.start)) : now;
  const t1 = known.length ? Math.max(...known.map((s) => s.end)) : now;
  const width = Math.max(t1 - t0, 1);

  const axis = el("div.axis", {}, el("span.label-col", {}, tasks.length === 1 ? "1 task" : `${tasks.length} tasks`));
  const scale = el("div.scale");
  for (let i = 0; i < TICKS - 1; i++) {
    const at = i / (TICKS - 1);
    scale.append(el("span.tick", { style: { left: `${at * 100}%` } }, fmtDuration(at * width)));
  }
  axis.append(scale, el("span.dur-col", {}, "took"));

  const rows = tasks.map((task, i) => {
    const span = spans[i];
    const outcome = task.outcome ?? task.status ?? "pending";
    const track = el("div.track");
    if (span) {
      const left = ((span.start - t0) / width) * 100;
      const size = ((span.end - span.start) / width) * 100;
      track.append(
        el("span.bar", {
          class: `outcome-${outcome}`,
          style: { left: `${left}%`, width: `max(${size}%, 3px)` },
          title: `${task.name}: ${outcome}, ${fmtDuration(span.end - span.start)}`,
        }),
      );
    } else {
      track.append(el("span.no-bar", {}, outcome === "pending" ? "not started" : outcome === "skipped" ? "skipped" : "no timing"));
    }
    const name = task.kind === "step" && task.step ? task.step + (task.iteration > 1 ? ` #${task.iteration}` : "") : task.name;
    return el(
      "a.row",
      {
        href: selected === task.name ? `#/runs/${encodeURIComponent(runId)}` : taskLink(runId, task.name),
        class: selected === task.name ? "selected" : "",
        dataset: { task: task.name, outcome, timelineRow: "" },
        title: selected === task.name ? "Close the details" : "Show the details",
      },
      el(
        "span.label-col",
        {},
        el("span.task-name", {}, name),
        badge(outcome, "outcome"),
        task.awaiting ? el("span.awaiting", { title: String(task.awaiting) }, task.awaiting === "approval" ? "awaits approval" : "awaits feedback") : null,
        el("span.reason", {}, task.reason ?? ""),
      ),
      track,
      el("span.dur-col", {}, span ? fmtDuration(span.end - span.start) : ""),
    );
  });

  return el("div.timeline#timeline", {}, axis, rows.length ? rows : el("p.muted", {}, "This run has no tasks yet."));
}
