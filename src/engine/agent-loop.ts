import { generateText, NoObjectGeneratedError, Output, stepCountIs, wrapLanguageModel, type ModelMessage, type ToolSet } from "ai";
import type { z } from "zod";
import { CrewstateError, messageOf } from "../errors.js";
import type { JsonValue } from "../stores/store.js";
import { delegationTools } from "./delegation.js";
import type { TaskJournal } from "./journal.js";
import type { PreparedAgent, PreparedTask } from "./prepare.js";

/** How many times a structured answer that fails its schema is re-asked within one attempt. */
const SCHEMA_REASKS = 2;

export interface TaskAnswer {
  output: string;
  structured: JsonValue | null;
}

/** The system prompt of an agent, as CrewAI words it. */
export function systemPrompt(agent: PreparedAgent): string {
  return `You are ${agent.role}. ${agent.backstory}\nYour personal goal is: ${agent.goal}`;
}

/** The user prompt of a task, with the outputs of its context tasks. */
export function taskPrompt(task: PreparedTask, context: string): string {
  const parts = [
    `Current Task: ${task.description}`,
    `This is the expected criteria for your final answer: ${task.expectedOutput}`,
    "You MUST return the actual complete content as the final answer, not a summary.",
  ];
  if (context.trim() !== "") parts.push(`This is the context you're working with:\n${context}`);
  parts.push("Begin! This is VERY important to you, use the tools available and give your best Final Answer, your job depends on it!");
  return parts.join("\n\n");
}

/**
 * One attempt at a task: its agent's model-and-tools loop (in a hierarchical crew, the manager's,
 * with tools to delegate to coworkers), every call going through the journal.
 */
export async function runAgentLoop(task: PreparedTask, context: string, journal: TaskJournal, signal?: AbortSignal): Promise<TaskAnswer> {
  journal.restart();
  const delegation = task.coworkers
    ? delegationTools(task.coworkers, journal, (coworker, prompt, nested) => agentTurn(coworker, prompt, nested, {}, undefined, task.name, signal))
    : {};
  return agentTurn(task.agent, taskPrompt(task, context), journal, delegation, task.task.output, task.name, signal);
}

/** An agent answering one prompt, with its tools (plus `extraTools`), re-asked on schema failures. */
async function agentTurn(
  agent: PreparedAgent,
  prompt: string,
  journal: TaskJournal,
  extraTools: ToolSet,
  schema: z.ZodType | undefined,
  taskName: string,
  signal: AbortSignal | undefined,
): Promise<TaskAnswer> {
  const model = wrapLanguageModel({ model: agent.model.model as Parameters<typeof wrapLanguageModel>[0]["model"], middleware: journal.middleware(agent.model.id) });
  const tools = journal.wrapTools({ ...agent.agent.tools, ...extraTools });
  const messages: ModelMessage[] = [{ role: "user", content: prompt }];
  for (let ask = 0; ; ask++) {
    try {
      const result = await generateText({
        model,
        system: systemPrompt(agent),
        messages,
        tools: Object.keys(tools).length > 0 ? tools : undefined,
        stopWhen: stepCountIs(agent.agent.maxSteps),
        maxRetries: 0,
        abortSignal: signal,
        ...(schema ? { output: Output.object({ schema }) } : {}),
      });
      return { output: result.text, structured: schema ? (result.output as JsonValue) : null };
    } catch (error) {
      if (!schema || !NoObjectGeneratedError.isInstance(error)) throw error;
      if (ask >= SCHEMA_REASKS) {
        throw new CrewstateError(
          "OUTPUT_INVALID",
          `task "${taskName}" answered ${ask + 1} times without matching its output schema: ${messageOf(error.cause ?? error)}`,
          { task: taskName },
          { cause: error },
        );
      }
      messages.push(
        { role: "assistant", content: error.text ?? "" },
        {
          role: "user",
          content: `Your answer did not match the required JSON schema: ${messageOf(error.cause ?? error)}\nAnswer again with JSON that matches the schema exactly.`,
        },
      );
    }
  }
}
