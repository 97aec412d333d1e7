/**
 * The run view as a RunObserver, on streams the test holds: an emulated terminal (isTTY, columns,
 * rows) for the live task list, a plain stream for the lines.
 */
import { Writable } from "node:stream";
import { describe, expect, it, onTestFinished, vi } from "vitest";
import { createRunView } from "../../src/cli/view/run-view.js";
import type { CallStartEvent, ProgressEvent } from "../../src/engine/observer.js";

function capture(tty: boolean) {
  const out = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      captured.text += chunk.toString();
      done();
    },
  }) as Writable & { isTTY?: boolean; columns?: number; rows?: number };
  const captured = { out, text: "" };
  if (tty) Object.assign(out, { isTTY: true, columns: 100, rows: 20 });
  return captured;
}

const TASKS = ["plan", "research_a", "research_b", "join"];
const progress = (task: string, state: ProgressEvent["state"], runId = "r"): ProgressEvent => ({
  runId,
  task,
  index: TASKS.indexOf(task) + 1,
  total: TASKS.length,
  state,
  store: "memory:",
  detail: state === "done" ? "1 model/tool call(s), 0 replayed" : "run: new",
  isDemoModel: false,
});
const call = (task: string, position: number, kind: "model" | "tool" = "model", runId = "r"): CallStartEvent => ({
  runId,
  task,
  kind,
  position,
  name: kind === "model" ? "openai:gpt-test" : "lookup",
  input: kind === "model" ? null : { id: "P-1" },
  replayed: false,
});
const SGR = /\u001b\[\d+(;\d+)*m/g;

describe("the run view", () => {
  it("on a terminal gives each running task its own line, with the call under way and the text it streams, and ends on a frame without them", () => {
    vi.useFakeTimers();
    onTestFinished(() => void vi.useRealTimers());
    const term = capture(true);
    const view = createRunView(term.out, { mode: "normal", stream: true, env: { NO_COLOR: "1" } });
    view.onRunStart!({ runId: "r", crew: "c", store: "memory:", tasks: TASKS, attempt: 1 });
    view.onProgress!(progress("plan", "running"));
    view.onProgress!(progress("plan", "done"));
    view.onProgress!(progress("research_a", "running"));
    view.onProgress!(progress("research_b", "running"));
    view.onCallStart!(call("research_a", 0, "tool"));
    view.onCallStart!(call("research_b", 0));
    view.onToken!({ runId: "r", task: "research_b", position: 0, text: "Findings so" });
    vi.advanceTimersByTime(150); // the next frame is drawn
    const frame = term.text.slice(term.text.lastIndexOf("0 replayed)\n"));
    expect(term.text).not.toMatch(SGR); // NO_COLOR
    expect(frame).toMatch(/^. \[2\/4\] research_a \d+\.\ds · tool lookup \{"id":"P-1"\} \d+\.\ds$/m);
    expect(frame).toMatch(/^. \[3\/4\] research_b \d+\.\ds · model openai:gpt-test \d+\.\ds │ Findings so$/m);
    expect(frame).toMatch(/^ {2}1 of 4 task\(s\) done · 2 running$/m);
    expect(term.text).toContain("[1/4] plan: done (1 model/tool call(s), 0 replayed)\n");

    view.onRunEnd!({ runId: "r", status: "failed", error: "stopped" });
    view.close();
    const afterLastRedraw = term.text.split("\u001b[G").pop()!;
    expect(afterLastRedraw).not.toMatch(/research_/);
  });

  it("off a terminal writes plain lines; for a worker each starts with its run ID", () => {
    const pipe = capture(false);
    const view = createRunView(pipe.out, { mode: "normal", stream: false, runIds: true });
    expect(view.onToken).toBeUndefined(); // so the run does not ask for streams
    for (const runId of ["r1", "r2"]) {
      view.onRunStart!({ runId, crew: "c", store: "memory:", tasks: TASKS, attempt: 1 });
      view.onProgress!(progress("plan", "running", runId));
      view.onCallStart!(call("plan", 0, "model", runId));
    }
    view.close();
    expect(pipe.text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f]/);
    expect(pipe.text.split("\n").filter(Boolean)).toEqual([
      "crew c · run r1 · 4 task(s) · state in memory:",
      "run r1 · [1/4] plan: running (run: new)",
      "run r1 · [1/4] plan: model openai:gpt-test started",
      "crew c · run r2 · 4 task(s) · state in memory:",
      "run r2 · [1/4] plan: running (run: new)",
      "run r2 · [1/4] plan: model openai:gpt-test started",
    ]);
  });
});
