import { tool, type ToolSet } from "ai";
import { z } from "zod";
import type { TaskJournal } from "./journal.js";
import type { PreparedAgent } from "./prepare.js";

export type RunCoworker = (coworker: PreparedAgent, prompt: string, journal: TaskJournal) => Promise<{ output: string }>;

/**
 * The manager's tools in a hierarchical crew, as CrewAI has them: delegate work to a coworker,
 * or ask one a question. A coworker's own calls are journaled in a range of the task's journal
 * that belongs to the delegating call, so a resumed manager replays finished delegations whole.
 */
export function delegationTools(coworkers: PreparedAgent[], journal: TaskJournal, runCoworker: RunCoworker): ToolSet {
  const roles = coworkers.map((c) => c.role);
  const list = roles.join(", ");
  const coworkerField = z.string().describe(`The role of the coworker, one of: ${list}`);
  const consult = async (name: string, prompt: string, toolCallId: string): Promise<string> => {
    const coworker = coworkers.find((c) => c.role.trim().toLowerCase() === name.trim().toLowerCase());
    if (!coworker) return `Error: there is no coworker "${name}". Choose one of: ${list}.`;
    const { output } = await runCoworker(coworker, prompt, journal.nested(journal.positionOf(toolCallId)));
    return output;
  };
  return {
    delegate_work_to_coworker: tool({
      description:
        `Delegate a specific task to one of the following coworkers: ${list}. Give the coworker, the task, and ALL the ` +
        "context needed to execute it: they know nothing about the task, so explain everything instead of referencing it.",
      inputSchema: z.object({ coworker: coworkerField, task: z.string(), context: z.string() }),
      execute: ({ coworker, task, context }, { toolCallId }) => consult(coworker, `${task}\n\nContext:\n${context}`, toolCallId),
    }),
    ask_question_to_coworker: tool({
      description:
        `Ask a specific question to one of the following coworkers: ${list}. Give the coworker, the question, and ALL the ` +
        "context needed to answer it: they know nothing about it, so explain everything instead of referencing it.",
      inputSchema: z.object({ coworker: coworkerField, question: z.string(), context: z.string() }),
      execute: ({ coworker, question, context }, { toolCallId }) => consult(coworker, `${question}\n\nContext:\n${context}`, toolCallId),
    }),
  };
}
