/**
 * Self-review, after CrewAI's `self_evaluation_loop_flow`: a writer crew drafts a post, a reviewer
 * crew scores it, and a router sends it back for another round until the reviewer accepts it or
 * three rounds have passed. Then a person decides: approve to publish, or reject with a note for
 * one more round. Every step, every crew run inside it and every model call is checkpointed:
 * kill the process anywhere and run the same command again to go on from there.
 *
 *   npx crewstate run examples/self-review/flow.ts --run-id post-1 --model demo
 *   npx crewstate feedback post-1 ask --approve        # or: --reject --text "shorter, please"
 *   npx crewstate run examples/self-review/flow.ts --run-id post-1 --model demo
 */
import { z } from "zod";
import { Agent, Crew, Flow, Task, or } from "crewstate";

const writer = new Agent({
  role: "Social Media Writer",
  goal: "Write short, concrete posts that make engineers want to read on",
  backstory: "You have written developer-relations posts for a decade and cut every word that does no work.",
});
const editor = new Agent({
  role: "Senior Editor",
  goal: "Judge a post honestly and say exactly what would make it better",
  backstory: "You edit a technical blog and reject anything vague, long or unverifiable.",
});

const writePost = new Task({
  name: "write_post",
  description: "Write a post of at most 280 characters about {topic}. The editor's last feedback: {feedback}",
  expectedOutput: "The post's text, nothing else.",
  agent: writer,
});

const reviewPost = new Task({
  name: "review_post",
  description: "Review this post about {topic}:\n\n{post}\n\nScore it from 0 to 100 and say what would make it better.",
  expectedOutput: "A score and one line of feedback.",
  agent: editor,
  output: z.object({ score: z.number(), feedback: z.string() }),
});

const writers = new Crew({ name: "post-writer", tasks: [writePost] });
const reviewers = new Crew({ name: "post-reviewer", tasks: [reviewPost] });

const State = z.object({
  topic: z.string().default("why agent workflows should survive a crash"),
  post: z.string().default(""),
  feedback: z.string().default("none yet"),
  rounds: z.number().int().default(0),
  score: z.number().default(0),
  verdict: z.string().default(""),
});

const flow = new Flow({ name: "self-review", state: State });

// Runs first, and again whenever a router says "revise".
const write = flow.start(
  "write",
  async (state, _previous, { kickoff }) => {
    state.rounds += 1;
    const result = await kickoff(writers, { inputs: { topic: state.topic, feedback: state.feedback } });
    state.post = result.output;
    return result.output;
  },
  { on: "revise" },
);

const review = flow.router("review", write, ["accepted", "revise", "out_of_rounds"], async (state, post, { kickoff }) => {
  const result = await kickoff(reviewers, { inputs: { topic: state.topic, post } });
  const { score, feedback } = result.get(reviewPost)!.structured!;
  state.score = score;
  state.feedback = feedback;
  if (score >= 90) return "accepted";
  return state.rounds >= 3 ? "out_of_rounds" : "revise";
});

// The run pauses here until someone answers with `crewstate feedback`.
const ask = flow.feedback("ask", or("accepted", "out_of_rounds"), "Publish this post?", (state) => state.post);

flow.router("decide", ask, ["ship", "revise"], (state, answer) => {
  state.verdict = answer.feedback.verdict ?? "commented";
  if (answer.feedback.text) state.feedback = answer.feedback.text;
  return answer.feedback.verdict === "approved" ? "ship" : "revise";
});

flow.listen("publish", "ship", (state) => ({ post: state.post, rounds: state.rounds, score: state.score }));

void review;
export default flow;
