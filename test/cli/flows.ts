/**
 * Flow modules the CLI tests write into their workspaces. Task descriptions start with marker
 * words (WRITE, REVIEW, SCORE) so the fake server can count calls per task; each carries the round,
 * so every model call of a run has a prompt of its own.
 */

/**
 * write (a one-task crew) → review (a two-task crew; a router: accepted in round 2, else revise)
 * → ask (feedback) → decide (approved → publish, else revise) → publish. To the pause: 6 model
 * calls (WRITE, REVIEW, SCORE in rounds 1 and 2). The `committed` crash points it passes, in order:
 * 1 WRITE task · 2 write#1 · 3 REVIEW task · 4 SCORE task · 5 review#1 · 6 WRITE task · 7 write#2 ·
 * 8 REVIEW task · 9 SCORE task · 10 review#2 · 11 ask#1 (waiting; the run not yet marked paused).
 */
export const REVIEW_FLOW = `import { z } from "zod";
import { Agent, Crew, Flow, Task, or } from "crewstate";

const writer = new Agent({ role: "Writer", goal: "Write posts", backstory: "You write short posts." });
const editor = new Agent({ role: "Editor", goal: "Review posts", backstory: "You judge posts." });
const writers = new Crew({
  name: "writers",
  tasks: [new Task({ name: "write_post", description: "WRITE round {round}: a post about {topic}. Feedback: {feedback}", expectedOutput: "A post.", agent: writer })],
});
const reviewers = new Crew({
  name: "reviewers",
  tasks: [
    new Task({ name: "review_post", description: "REVIEW round {round}: {post}", expectedOutput: "A review.", agent: editor }),
    new Task({ name: "score_post", description: "SCORE round {round} from the review.", expectedOutput: "A score.", agent: editor }),
  ],
});

const flow = new Flow({
  name: "review-loop",
  state: z.object({ topic: z.string().default("durable flows"), post: z.string().default(""), feedback: z.string().default("none"), round: z.number().default(0), review: z.string().default("") }),
});
const write = flow.start("write", async (state, _previous, { kickoff }) => {
  state.round += 1;
  const result = await kickoff(writers, { inputs: { round: String(state.round), topic: state.topic, feedback: state.feedback } });
  state.post = result.output;
  return result.output;
}, { on: "revise" });
flow.router("review", write, ["accepted", "revise"], async (state, post, { kickoff }) => {
  const result = await kickoff(reviewers, { inputs: { round: String(state.round), post } });
  state.review = result.output;
  return state.round >= 2 ? "accepted" : "revise";
});
const ask = flow.feedback("ask", or("accepted"), "Publish it?", (state) => state.post);
flow.router("decide", ask, ["ship", "revise"], (state, answer) => {
  if (answer.feedback.text) state.feedback = answer.feedback.text;
  return answer.feedback.verdict === "approved" ? "ship" : "revise";
});
flow.listen("publish", "ship", (state) => "published round " + state.round + ": " + state.post);
export default flow;
`;

/**
 * No model: a and b start, merge waits for both (and), route picks left or right by the input
 * \`side\`, and each step appends its name to the file the input \`ledger\` names, before returning.
 */
export const JOIN_FLOW = `import { appendFileSync } from "node:fs";
import { z } from "zod";
import { Flow, and, or } from "crewstate";

const flow = new Flow({ name: "joins", state: z.object({ ledger: z.string(), side: z.string().default("left"), seen: z.array(z.string()).default([]) }) });
const step = (name) => (state) => {
  appendFileSync(state.ledger, name + "\\n");
  state.seen.push(name);
  return name;
};
const a = flow.start("a", step("a"));
const b = flow.start("b", step("b"));
const merge = flow.listen("merge", and(a, b), step("merge"));
flow.router("route", merge, ["left", "right"], (state) => {
  appendFileSync(state.ledger, "route\\n");
  return state.side === "right" ? "right" : "left";
});
flow.listen("go_left", "left", step("go_left"));
flow.listen("go_right", "right", step("go_right"));
flow.listen("end", or("left", "right"), step("end"));
export default flow;
`;
