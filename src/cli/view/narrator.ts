import type { Colors } from "./colors.js";
import { DEMO_LABEL } from "../../llm/demo-model.js";
import type { CallEndEvent, CallStartEvent, ProgressEvent, RunObserver, RunStartEvent, TaskStartEvent, TokenEvent } from "../../engine/observer.js";
import { callName, callOutcome, lastMessage, oneLine } from "./describe.js";

/**
 * How much a run's view tells: `quiet` nothing (the command prints only the result), `normal`
 * tasks and calls, `verbose` also each agent's turns in full — prompt, answer, tool arguments and
 * results — as CrewAI's `verbose=True` does.
 */
export type ViewMode = "quiet" | "normal" | "verbose";

export interface NarratorOptions {
  mode: ViewMode;
  colors: Colors;
  /** Another part of the view shows what is under way (the live task list): say only what happened. */
  live: boolean;
  /** Start every line with its run's ID: for a worker, whose runs interleave. */
  runIds?: boolean;
}

/**
 * Turns a run's events into lines that stay: one per event, each naming its task, free of control
 * characters unless `colors` adds them. Both the live view and the plain output print these.
 */
export class Narrator implements RunObserver {
  private readonly index = new Map<string, string>();
  private demoSaid = false;
  /** Streamed text not yet ended by a newline, by call (see `keyOf`). */
  private readonly partial = new Map<string, string>();
  /** Calls whose answer was streamed: verbose does not print it twice. */
  private readonly streamed = new Set<string>();
  /** Verbose: tasks started whose agent and description are still to be said. */
  private readonly starting = new Map<string, TaskStartEvent>();

  constructor(
    private readonly say: (line: string) => void,
    private readonly options: NarratorOptions,
  ) {}

  private get c(): Colors {
    return this.options.colors;
  }

  /** `[2/5] draft_task`, the name every line starts with. */
  label(task: string): string {
    return this.index.get(task) ?? task;
  }

  private tell(about: Where, text: string): void {
    this.say(`${this.runPrefix(about.runId)}${this.c.cyan(this.label(about.task))}: ${text}`);
  }

  private runPrefix(runId: string): string {
    return this.options.runIds ? `run ${runId} · ` : "";
  }

  /** Each line of a block of text, under its task. */
  private block(about: Where, heading: string, text: string): void {
    const lines = text.split(/\r?\n/);
    this.tell(about, `${this.c.bold(heading)} ${lines[0] ?? ""}`);
    for (const line of lines.slice(1)) this.tell(about, `  ${line}`);
  }

  onRunStart(event: RunStartEvent): void {
    event.tasks.forEach((task, i) => this.index.set(task, `[${i + 1}/${event.tasks.length}] ${task}`));
    if (this.options.mode === "quiet") return;
    this.say(`${event.kind ?? "crew"} ${event.crew} · run ${event.runId} · ${event.tasks.length} ${event.kind === "flow" ? "step" : "task"}(s) · state in ${event.store}${event.attempt > 1 ? ` · kickoff ${event.attempt}` : ""}`);
  }

  onProgress(event: ProgressEvent): void {
    if (this.options.mode === "quiet") return;
    if (event.isDemoModel && !this.demoSaid) {
      this.demoSaid = true;
      this.say(this.c.yellow(`model: ${DEMO_LABEL}`));
    }
    if (!this.options.live || event.state !== "running") this.say(this.runPrefix(event.runId) + this.paint(event.state, progressLine(event)));
    if (event.state === "running") this.introduce(event);
  }

  private paint(state: ProgressEvent["state"], line: string): string {
    if (state === "failed") return this.c.red(line);
    if (state === "retrying") return this.c.yellow(line);
    if (state === "done") return this.c.green(line);
    return state === "running" ? line : this.c.dim(line);
  }

  onTaskStart(event: TaskStartEvent): void {
    if (this.options.mode === "verbose") this.starting.set(keyOf(event), event);
  }

  /** Verbose: who works the task and on what, once the task's start is said. */
  private introduce(about: Where): void {
    const event = this.starting.get(keyOf(about));
    if (!event) return;
    this.starting.delete(keyOf(about));
    this.tell(event, `${this.c.bold("# Agent:")} ${event.agent} (${event.model})`);
    if (event.description !== undefined) this.block(event, "## Task:", event.description.trim());
  }

  onCallStart(event: CallStartEvent): void {
    if (this.options.mode === "quiet") return;
    if (this.options.mode === "verbose" && event.kind === "model" && event.messages !== undefined && !event.replayed) {
      this.tell(event, `${this.c.bold("## Prompt:")} ${oneLine(lastMessage(event.messages), 300)}`);
    }
    if (this.options.live || event.replayed) return;
    this.tell(event, `${callName(event)} started`);
  }

  onToken(event: TokenEvent): void {
    if (this.options.mode === "quiet") return;
    const key = keyOf(event);
    this.streamed.add(key);
    const lines = ((this.partial.get(key) ?? "") + event.text).split(/\r?\n/);
    this.partial.set(key, lines.pop()!);
    for (const line of lines) this.tell(event, `${this.c.dim("│")} ${line}`);
  }

  /** What a call's streamed answer has so far on its unfinished line. */
  streaming(call: Where & { position: number }): string | undefined {
    return this.partial.get(keyOf(call));
  }

  onCallEnd(event: CallEndEvent): void {
    if (this.options.mode === "quiet") return;
    const key = keyOf(event);
    const rest = this.partial.get(key);
    this.partial.delete(key);
    if (rest) this.tell(event, `${this.c.dim("│")} ${rest}`);
    const failed = event.error !== undefined;
    const outcome = callOutcome(event);
    this.tell(event, `${callName(event)} ${failed ? this.c.red(outcome) : event.replayed ? this.c.dim(outcome) : outcome}`);
    if (this.options.mode !== "verbose" || failed) return;
    if (event.kind === "tool") {
      this.block(event, "## Tool Input:", JSON.stringify(event.input, null, 2));
      this.block(event, "## Tool Output:", typeof event.output === "string" ? event.output : JSON.stringify(event.output, null, 2));
    } else if (!this.streamed.delete(key) && typeof event.output === "string" && event.output !== "") {
      this.block(event, "## Answer:", event.output);
    }
  }
}

/** The run and task a line is about. */
type Where = { runId: string; task: string };

/** `run/task`, or `run/task@position` for a call. */
function keyOf(about: Where & { position?: number }): string {
  return `${about.runId}/${about.task}${about.position === undefined ? "" : `@${about.position}`}`;
}

/** A task's progress, as `crewstate run` has always said it. */
export function progressLine(event: ProgressEvent): string {
  const where = `[${event.index}${event.total > 0 ? `/${event.total}` : ""}] ${event.task}`;
  switch (event.state) {
    case "reused":
      return `${where}: reused${event.detail.startsWith("reuse (") ? event.detail.slice("reuse".length) : ""}`;
    case "skipped":
      return `${where}: ${event.detail}`;
    case "running":
      return `${where}: running (${event.detail})`;
    case "done":
      return `${where}: done (${event.detail})`;
    case "retrying":
      return `${where}: failed, retrying: ${event.detail}`;
    case "failed":
      return `${where}: failed: ${event.detail}`;
  }
}

