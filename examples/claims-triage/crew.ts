/**
 * The tutorial's crew: a Claims Researcher who extracts the key facts from case notes, then drafts
 * an internal triage note, looking the policy up first. Every finished task — and every model and
 * tool call inside one — is checkpointed; rerunning the same run ID resumes.
 *
 *   npx crewstate run examples/claims-triage/crew.ts --run-id claim-123 \
 *     --input notes=@examples/claims-triage/case-notes.txt
 */
import { tool } from "ai";
import { z } from "zod";
import { Agent, Crew, Task } from "crewstate";

const lookupPolicy = tool({
  description: "Look up a policy's status and deductible by its policy number.",
  inputSchema: z.object({ policyNumber: z.string() }),
  execute: async ({ policyNumber }) => {
    console.log(`      lookup_policy(${policyNumber}) → active, deductible $1,000`);
    return { policyNumber, status: "active", deductibleUsd: 1000 };
  },
});

const researcher = new Agent({
  role: "Claims Researcher",
  goal: "Collect relevant facts from the case notes",
  backstory: "You work on insurance operations and summarize case details accurately.",
  tools: { lookup_policy: lookupPolicy },
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
  description: "Turn the extracted facts into an internal triage note for the claims team, with the policy's status.",
  expectedOutput: "A short internal note with next actions.",
  agent: researcher,
});

export default new Crew({
  name: "claims-triage",
  agents: [researcher],
  tasks: [analyze, draft],
  process: "sequential",
});
