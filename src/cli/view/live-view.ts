import { createLogUpdate } from "log-update";
import type { CallEndEvent, CallStartEvent, ProgressEvent, RunEndEvent, RunObserver, RunStartEvent, TaskStartEvent, TokenEvent } from "../../engine/observer.js";
import type { Colors } from "./colors.js";
import { callName, duration, oneLine } from "./describe.js";
import type { Narrator } from "./narrator.js";

/** A terminal to draw on: a TTY stream with its size. */
export interface Terminal extends NodeJS.WritableStream {
  isTTY?: boolean;
  columns?: number;
  rows?: number;
}

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
/** How often the frame is redrawn: events only change state, so a run's cost does not grow with its view. */
const FRAME_MS = 100;

interface RunningTask {
  started: number;
  /** Calls under way, by position (a delegating manager's may nest). */
  calls: Map<number, { event: CallStartEvent; started: number }>;
}

/**
 * The live task list on a terminal: what happened scrolls above (the narrator's lines), and below
 * it one line per running task — spinner, elapsed time, the call under way and its time, the text
 * it is streaming — redrawn in place by log-update every FRAME_MS.
 */
export class LiveView implements RunObserver {
  private readonly update: ReturnType<typeof createLogUpdate>;
  private readonly running = new Map<string, RunningTask>();
  private readonly pending: string[] = [];
  private total = 0;
  private finished = 0;
  private tick = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly out: Terminal,
    private readonly narrator: Narrator,
    private readonly colors: Colors,
    private readonly now: () => number = () => performance.now(),
  ) {
    // A terminal that reports no size (0 × 0, as under `script` without one) gets the usual 80 × 24.
    const size = () => ({ columns: this.columns, rows: this.rows });
    const sized = {
      write: (text: string) => out.write(text),
      get columns() {
        return size().columns;
      },
      get rows() {
        return size().rows;
      },
    };
    this.update = createLogUpdate(sized as unknown as NodeJS.WritableStream);
  }

  private get columns(): number {
    return this.out.columns || 80;
  }

  private get rows(): number {
    return this.out.rows || 24;
  }

  /** Where the narrator's lines go: held until the next frame, then printed above it. */
  line(text: string): void {
    this.pending.push(text);
  }

  onRunStart(event: RunStartEvent): void {
    this.total = event.tasks.length;
    this.narrator.onRunStart(event);
    this.timer ??= setInterval(() => this.render(), FRAME_MS).unref();
  }

  onProgress(event: ProgressEvent): void {
    if (event.state === "running" && !this.running.has(event.task)) this.running.set(event.task, { started: this.now(), calls: new Map() });
    if (event.state === "done" || event.state === "failed" || event.state === "reused" || event.state === "skipped") {
      this.running.delete(event.task);
      if (event.state !== "failed") this.finished += 1;
    }
    this.narrator.onProgress(event);
  }

  onTaskStart(event: TaskStartEvent): void {
    this.narrator.onTaskStart(event);
  }

  onCallStart(event: CallStartEvent): void {
    this.running.get(event.task)?.calls.set(event.position, { event, started: this.now() });
    this.narrator.onCallStart(event);
  }

  onCallEnd(event: CallEndEvent): void {
    this.running.get(event.task)?.calls.delete(event.position);
    this.narrator.onCallEnd(event);
  }

  onToken(event: TokenEvent): void {
    this.narrator.onToken(event);
  }

  onRunEnd(_event: RunEndEvent): void {
    this.close();
  }

  /** The frame as it stands: one line per running task, then a count. */
  frame(): string {
    const c = this.colors;
    const now = this.now();
    const width = Math.max(20, this.columns - 1);
    const room = Math.max(1, this.rows - 2);
    const spinner = c.cyan(SPINNER[this.tick % SPINNER.length]!);
    const lines: string[] = [];
    for (const [task, state] of [...this.running].slice(0, room)) {
      let line = `${spinner} ${this.narrator.label(task)} ${c.dim(duration(now - state.started))}`;
      const calls = [...state.calls.values()];
      const current = calls[calls.length - 1];
      if (current) {
        line += ` · ${callName(current.event)} ${c.dim(duration(now - current.started))}`;
        const text = this.narrator.streaming(current.event);
        if (text) line += ` ${c.dim("│")} ${text}`;
      }
      lines.push(oneLine(line, width));
    }
    if (this.running.size > room) lines.push(c.dim(`  … and ${this.running.size - room} more running`));
    if (this.total > 0 && !this.closed) lines.push(c.dim(`  ${this.finished} of ${this.total} task(s) done · ${this.running.size} running`));
    return lines.join("\n");
  }

  /** Prints what happened since the last frame, then redraws the frame below it. */
  render(): void {
    this.tick += 1;
    if (this.pending.length > 0) {
      this.update.clear();
      this.out.write(`${this.pending.join("\n")}\n`);
      this.pending.length = 0;
    }
    this.update(this.frame());
  }

  /** The final frame: everything said, the live lines gone, the cursor back. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    // A run that never started (bad input, say) drew nothing: nothing to clear.
    if (this.timer === undefined && this.pending.length === 0) return;
    clearInterval(this.timer);
    this.running.clear();
    this.render();
    this.update.clear();
    this.update.done();
  }
}
