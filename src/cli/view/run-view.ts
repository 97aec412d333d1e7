import type { RunObserver, TokenEvent } from "../../engine/observer.js";
import { colorsFor } from "./colors.js";
import { LiveView, type Terminal } from "./live-view.js";
import { Narrator, type ViewMode } from "./narrator.js";

export type { ViewMode };

export interface RunViewOptions {
  mode: ViewMode;
  /** Print each answer as it is generated (the run then asks its models to stream). */
  stream: boolean;
  env?: NodeJS.ProcessEnv;
  /** Plain lines even on a terminal, each starting with its run's ID: for a worker, whose runs interleave. */
  runIds?: boolean;
}

/** A run's view: a RunObserver, and `close()` to end it (once the run is over, whatever its end). */
export type RunView = RunObserver & { close(): void };

/**
 * What `crewstate run` shows while a crew works. On a terminal, a live task list (see LiveView)
 * over the lines of what happened; anywhere else — a pipe, a file, CI — those lines alone, one per
 * event, each naming its task, without control characters. NO_COLOR turns colors off.
 */
export function createRunView(out: Terminal, options: RunViewOptions): RunView {
  const colors = colorsFor(out, options.env);
  const live = out.isTTY === true && options.mode !== "quiet" && options.runIds !== true;
  let view: Required<Omit<RunObserver, "onTaskEnd">> & { close(): void };
  if (live) {
    let liveView: LiveView | undefined;
    const narrator = new Narrator((line) => liveView!.line(line), { mode: options.mode, colors, live: true });
    view = liveView = new LiveView(out, narrator, colors);
  } else {
    const narrator = new Narrator((line) => out.write(`${line}\n`), { mode: options.mode, colors, live: false, runIds: options.runIds });
    view = Object.assign(narrator, { onRunEnd: () => {}, close: () => {} });
  }
  return {
    onRunStart: (event) => view.onRunStart(event),
    onRunEnd: (event) => view.onRunEnd(event),
    onProgress: (event) => view.onProgress(event),
    onTaskStart: (event) => view.onTaskStart(event),
    onCallStart: (event) => view.onCallStart(event),
    onCallEnd: (event) => view.onCallEnd(event),
    // Without `onToken` nobody asks for streams: models answer whole, as they do without a view.
    ...(options.stream ? { onToken: (event: TokenEvent) => view.onToken(event) } : {}),
    close: () => view.close(),
  };
}
