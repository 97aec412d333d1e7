/**
 * Crew modules the CLI tests write into their workspaces. Each task's description starts with an
 * upper-case marker word (ANALYZE, DRAFT, CLASSIFY…) that appears in no other task's prompt and in
 * no answer, so the fake server can count and steer calls per task by that word.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { REPO_ROOT, type Workspace } from "../support/cli.js";

/** Two tasks, the tutorial's shape: analyze_task reads {notes}; draft_task sees it (default context). */
export const TWO_STEP = `import { Agent, Task, Crew } from "crewstate";

const researcher = new Agent({
  role: "Claims Researcher",
  goal: "Collect relevant facts from the case notes",
  backstory: "You work in insurance operations and summarize case details accurately.",
});

const analyze = new Task({
  name: "analyze_task",
  description: "ANALYZE the case notes and extract key facts: policy number, loss date, issue summary.\\n\\nCase notes:\\n{notes}",
  expectedOutput: "A concise bullet list with the extracted facts.",
  agent: researcher,
});

const draft = new Task({
  name: "draft_task",
  description: "DRAFT an internal triage note for the claims team from the extracted facts.",
  expectedOutput: "A short internal note with next actions.",
  agent: researcher,
});

export default new Crew({ name: "cli-two-step", agents: [researcher], tasks: [analyze, draft] });
`;

/**
 * Four tasks whose context edges say who depends on what:
 *   classify ({notes}) → route          extract ({notes}) → draft
 * route reads only classify's output; draft reads only extract's.
 */
export const FAN_OUT = `import { Agent, Task, Crew } from "crewstate";

const agent = new Agent({ role: "Claims Handler", goal: "Triage claims", backstory: "You handle insurance claims." });

const classify = new Task({
  name: "classify",
  description: "CLASSIFY the type of loss described in these notes: {notes}",
  expectedOutput: "One short label.",
  agent,
});
const extract = new Task({
  name: "extract",
  description: "EXTRACT the policy number and loss date from these notes: {notes}",
  expectedOutput: "Two lines.",
  agent,
});
const route = new Task({
  name: "route",
  description: "ROUTE the claim to the right team for its type.",
  expectedOutput: "A team name.",
  agent,
  context: [classify],
});
const draft = new Task({
  name: "draft",
  description: "DRAFT a note to the policyholder confirming the facts.",
  expectedOutput: "A short note.",
  agent,
  context: [extract],
});

export default new Crew({ name: "cli-fan-out", agents: [agent], tasks: [classify, extract, route, draft] });
`;

/**
 * TWO_STEP whose draft_task agent has a tool, \`lookup_policy\`, that appends each execution to
 * \`tool-calls.log\` next to the module (so a test counts executions across processes).
 * Needs the workspace to link "ai" and "zod".
 */
export const WITH_TOOL = `import { appendFileSync } from "node:fs";
import { tool } from "ai";
import { z } from "zod";
import { Agent, Task, Crew } from "crewstate";

const lookupPolicy = tool({
  description: "Look up a policy by number",
  inputSchema: z.object({ policy: z.string() }),
  execute: async ({ policy }) => {
    appendFileSync(new URL("./tool-calls.log", import.meta.url), policy + "\\n");
    return "policy " + policy + ": active, deductible 500";
  },
});

const researcher = new Agent({ role: "Claims Researcher", goal: "Collect facts", backstory: "You work in insurance operations." });
const writer = new Agent({ role: "Claims Writer", goal: "Write triage notes", backstory: "You check the policy first.", tools: { lookup_policy: lookupPolicy } });

const analyze = new Task({ name: "analyze_task", description: "ANALYZE the case notes: {notes}", expectedOutput: "Facts.", agent: researcher });
const draft = new Task({ name: "draft_task", description: "DRAFT a triage note; look the policy up first.", expectedOutput: "A note.", agent: writer });

export default new Crew({ name: "cli-with-tool", agents: [researcher, writer], tasks: [analyze, draft] });
`;

/**
 * One task whose agent has a tool, \`lookup_policy\`, that appends each execution to
 * \`tool-calls.log\` next to the module and answers \`policy <n>: active, deductible 500\`; the
 * agent may take up to 8 model calls, so a fake server can script a loop of several tool-call
 * rounds. Needs the workspace to link "ai" and "zod".
 */
export const TOOL_LOOP = `import { appendFileSync } from "node:fs";
import { tool } from "ai";
import { z } from "zod";
import { Agent, Task, Crew } from "crewstate";

const lookupPolicy = tool({
  description: "Look up a policy by number",
  inputSchema: z.object({ policy: z.string() }),
  execute: async ({ policy }) => {
    appendFileSync(new URL("./tool-calls.log", import.meta.url), policy + "\\n");
    return "policy " + policy + ": active, deductible 500";
  },
});

const investigator = new Agent({
  role: "Claims Investigator",
  goal: "Check every policy a claim mentions",
  backstory: "You look each policy up, one at a time, before you conclude.",
  tools: { lookup_policy: lookupPolicy },
  maxSteps: 8,
});

const investigate = new Task({
  name: "investigate_task",
  description: "INVESTIGATE the claim: look up every policy these notes mention, one call each.\\n\\n{notes}",
  expectedOutput: "One verdict per policy.",
  agent: investigator,
});

export default new Crew({ name: "cli-tool-loop", agents: [investigator], tasks: [investigate] });
`;

/** What TOOL_LOOP's tool answers for a policy. */
export const toolLoopResult = (policy: string): string => `policy ${policy}: active, deductible 500`;

export interface StoreKind {
  name: "sqlite" | "json";
  /** The store URL for a workspace. */
  url(ws: Workspace): string;
  /** The state file it writes. */
  file(ws: Workspace): string;
}

export const SQLITE: StoreKind = {
  name: "sqlite",
  url: (ws) => `sqlite:${ws.path("state.db")}`,
  file: (ws) => ws.path("state.db"),
};

export const JSON_FILE: StoreKind = {
  name: "json",
  url: (ws) => `json:${ws.path("state.json")}`,
  file: (ws) => ws.path("state.json"),
};

/** Whether the JSON file store exists yet (another engineer is writing it). */
export const HAS_JSON_STORE = existsSync(path.join(REPO_ROOT, "src", "stores", "json", "store.ts"));

/** The model every CLI test uses, answered by the fake server. */
export const MODEL = ["--model", "openai:gpt-test"];
