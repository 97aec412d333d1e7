/**
 * The tutorial's crew: a Claims Researcher who extracts the key facts from case notes, then drafts
 * an internal triage note. Every finished task is checkpointed; rerunning the same run ID resumes.
 *
 *   npx crewstate run examples/claims-triage/crew.ts --run-id claim-123 \
 *     --input notes=@examples/claims-triage/case-notes.txt
 */
import { Agent, Crew, Task } from "crewstate";

const researcher = new Agent({
  role: "Claims Researcher",
  goal: "Collect relevant facts from the case notes",
  backstory: "You work on insurance operations and summarize case details accurately.",
});

const analyze = new Task({
  name: "analyze_task",
  description:
    "Review the case notes and extract key facts: policy number, loss date, and issue summary.\n\nCase notes:\n{notes}",
  expectedOutput: "A concise bullet list with the extracted facts.",
  agent: researcher,
});

const draft = new Task({
  name: "draft_task",
  description: "Turn the extracted facts into an internal triage note for the claims team.",
  expectedOutput: "A short internal note with next actions.",
  agent: researcher,
});

export default new Crew({
  name: "claims-triage",
  agents: [researcher],
  tasks: [analyze, draft],
  process: "sequential",
});
