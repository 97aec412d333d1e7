/**
 * Meeting preparation, after CrewAI's "prepare for a meeting" example: two researchers work in
 * parallel (async tasks), a strategist joins their findings under a guardrail, a follow-up runs
 * only when the strategy flags open risks (a conditional task), and the briefing is written to a
 * file. Every task — and every decision — is checkpointed; rerunning the run ID resumes.
 *
 *   npx crewstate run examples/meeting-prep/crew.ts --run-id meeting-1 \
 *     --inputs examples/meeting-prep/inputs.json --model demo
 */
import { Agent, ConditionalTask, Crew, Task } from "crewstate";

const researcher = new Agent({
  role: "Research Specialist",
  goal: "Find what matters about the people in the meeting",
  backstory: "You profile people and companies from public information, and say what you do not know.",
});
const analyst = new Agent({
  role: "Industry Analyst",
  goal: "Explain the market the counterpart works in",
  backstory: "You follow insurance and fintech markets and summarize trends in plain words.",
});
const strategist = new Agent({
  role: "Meeting Strategy Advisor",
  goal: "Turn research into talking points and next actions",
  backstory: "You have prepared executives for hundreds of negotiations.",
});

const agenda = new Task({
  name: "agenda_task",
  description: "Outline an agenda for a meeting with {company} on {meeting_date}. Objective: {objective}",
  expectedOutput: "Three to five agenda items.",
  agent: strategist,
});

// These two run at the same time, as soon as the agenda is done.
const research = new Task({
  name: "research_task",
  description: "Research the participants of the meeting with {company}: {participants}",
  expectedOutput: "A short profile of each participant.",
  agent: researcher,
  asyncExecution: true,
});
const industry = new Task({
  name: "industry_task",
  description: "Analyse the current market of {company}: competitors, trends, regulation.",
  expectedOutput: "A one-paragraph market summary.",
  agent: analyst,
  asyncExecution: true,
});

// Waits for both researchers; an answer without next actions is sent back with feedback.
const strategy = new Task({
  name: "strategy_task",
  description: "Write the meeting strategy for {company}: talking points, questions to ask, and next actions.",
  expectedOutput: "Talking points, questions and next actions.",
  agent: strategist,
  context: [agenda, research, industry],
  guardrail: (output) =>
    /next actions?/i.test(output.raw) ? { ok: true } : { ok: false, feedback: "List the next actions after the meeting, under a 'Next actions' heading." },
});

// Runs only when the strategy flags open risks; otherwise it is recorded as skipped.
const risks = new ConditionalTask({
  name: "risk_review_task",
  description: "Review the open risks the strategy flags and propose how to address each before the meeting.",
  expectedOutput: "Each risk with a mitigation.",
  agent: analyst,
  condition: (previous) => /\brisks?\b/i.test(previous.raw),
});

const briefing = new Task({
  name: "briefing_task",
  description: "Compile a one-page briefing for the meeting with {company} from everything above.",
  expectedOutput: "A Markdown briefing.",
  agent: strategist,
  outputFile: "briefings/{company}-{meeting_date}.md",
});

export default new Crew({
  name: "meeting-prep",
  agents: [researcher, analyst, strategist],
  tasks: [agenda, research, industry, strategy, risks, briefing],
});
