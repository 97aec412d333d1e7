import { z } from "zod";
import { Agent, Crew, Flow, Task, and, or } from "../../src/index.js";

/** Counts how often each step's function ran, by step name. */
export class Calls {
  readonly counts = new Map<string, number>();
  hit(name: string): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
  }
  of(name: string): number {
    return this.counts.get(name) ?? 0;
  }
  reset(): void {
    this.counts.clear();
  }
}

export const LoopState = z.object({
  topic: z.string().default("durable agents"),
  draft: z.string().default(""),
  round: z.number().int().default(0),
  accepted: z.boolean().default(false),
});

/**
 * write → review → (revise → write … | accepted → publish): the reviewer accepts in round
 * `acceptAt`, or gives up after 3 rounds.
 */
export function loopFlow(calls: Calls, options: { acceptAt?: number; reviewVersion?: string } = {}) {
  const acceptAt = options.acceptAt ?? 3;
  const flow = new Flow({ name: "loop", state: LoopState });
  const write = flow.start(
    "write",
    (state) => {
      calls.hit("write");
      state.round += 1;
      state.draft = `draft ${state.round} on ${state.topic}`;
      return state.draft;
    },
    { on: "revise" },
  );
  flow.router(
    "review",
    write,
    ["accepted", "revise", "gave_up"],
    (state, draft) => {
      calls.hit("review");
      if (typeof draft !== "string") throw new Error("review got no draft");
      if (state.round >= acceptAt) {
        state.accepted = true;
        return "accepted";
      }
      return state.round >= 3 ? "gave_up" : "revise";
    },
    { version: options.reviewVersion },
  );
  flow.listen("publish", or("accepted", "gave_up"), (state) => {
    calls.hit("publish");
    return { published: state.accepted, rounds: state.round };
  });
  return flow;
}

/** Two starts joined by `and`, then an `or` listener: fetch_a, fetch_b → merge (and) → done (or of merge / fetch_a). */
export function joinFlow(calls: Calls) {
  const flow = new Flow({ name: "joins", state: z.object({ parts: z.array(z.string()).default([]) }) });
  const a = flow.start("fetch_a", (state) => {
    calls.hit("fetch_a");
    state.parts.push("a");
    return "A";
  });
  const b = flow.start("fetch_b", (state) => {
    calls.hit("fetch_b");
    state.parts.push("b");
    return "B";
  });
  const merge = flow.listen("merge", and(a, b), (state, last) => {
    calls.hit("merge");
    return `${state.parts.join("+")} (last ${String(last)})`;
  });
  flow.listen("done", or(merge), (_state, merged) => {
    calls.hit("done");
    return `done: ${merged}`;
  });
  return flow;
}

/** write → ask (feedback) → decide: approved → publish, else → write again. */
export function feedbackFlow(calls: Calls) {
  const flow = new Flow({ name: "ask", state: z.object({ draft: z.string().default(""), round: z.number().default(0), notes: z.array(z.string()).default([]) }) });
  const write = flow.start(
    "write",
    (state) => {
      calls.hit("write");
      state.round += 1;
      state.draft = `draft ${state.round}${state.notes.length ? ` after: ${state.notes.join("; ")}` : ""}`;
      return state.draft;
    },
    { on: "redo" },
  );
  const ask = flow.feedback("ask", write, "Publish this draft?", (state) => {
    calls.hit("ask");
    return state.draft;
  });
  flow.router("decide", ask, ["ship", "redo"], (state, answer) => {
    calls.hit("decide");
    if (answer.feedback.text) state.notes.push(answer.feedback.text);
    return answer.feedback.verdict === "approved" ? "ship" : "redo";
  });
  flow.listen("publish", "ship", (state) => {
    calls.hit("publish");
    return `published: ${state.draft}`;
  });
  return flow;
}

/** A flow whose step kicks off a one-task crew on `model`. */
export function crewFlow(calls: Calls, model: string) {
  const writer = new Agent({ role: "Writer", goal: "Write", backstory: "You write.", model });
  const crew = new Crew({ name: "writers", tasks: [new Task({ name: "write_task", description: "WRITE about {topic}", expectedOutput: "a line", agent: writer })] });
  const flow = new Flow({ name: "with-crew", state: z.object({ topic: z.string().default("flows"), text: z.string().default("") }) });
  flow.start("draft", async (state, _previous, { kickoff }) => {
    calls.hit("draft");
    const result = await kickoff(crew, { inputs: { topic: state.topic } });
    state.text = result.output;
    return result.output;
  });
  return flow;
}
