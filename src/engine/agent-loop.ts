import { generateText, NoObjectGeneratedError, Output, stepCountIs, wrapLanguageModel, type ModelMessage } from "ai";
import { CrewstateError, messageOf } from "../errors.js";
import type { JsonValue } from "../stores/store.js";
import type { TaskJournal } from "./journal.js";
import type { PreparedTask } from "./prepare.js";

/** How many times a structured answer that fails its schema is re-asked within one attempt. */
const SCHEMA_REASKS = 2;

export interface TaskAnswer {
  output: string;
  structured: JsonValue | null;
}

/** The system prompt of an agent, as CrewAI words it. */
export function systemPrompt(task: PreparedTask): string {
  return `You are ${task.role}. ${task.backstory}\nYour personal goal is: ${task.goal}`;
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

/** One attempt at a task: the agent's model-and-tools loop, every call going through the journal. */
export async function runAgentLoop(task: PreparedTask, context: string, journal: TaskJournal, signal?: AbortSignal): Promise<TaskAnswer> {
  journal.restart();
  const model = wrapLanguageModel({ model: task.model.model as Parameters<typeof wrapLanguageModel>[0]["model"], middleware: journal.middleware });
  const tools = journal.wrapTools(task.agent.tools);
  const messages: ModelMessage[] = [{ role: "user", content: taskPrompt(task, context) }];
  const schema = task.task.output;
  for (let ask = 0; ; ask++) {
    try {
      const result = await generateText({
        model,
        system: systemPrompt(task),
        messages,
        tools: Object.keys(tools).length > 0 ? tools : undefined,
        stopWhen: stepCountIs(task.agent.maxSteps),
        maxRetries: 0,
        abortSignal: signal,
        ...(schema ? { output: Output.object({ schema }) } : {}),
      });
      if (!schema) return { output: result.text, structured: null };
      return { output: result.text, structured: result.output as JsonValue };
    } catch (error) {
      if (!schema || !NoObjectGeneratedError.isInstance(error)) throw error;
      if (ask >= SCHEMA_REASKS) {
        throw new CrewstateError(
          "OUTPUT_INVALID",
          `task "${task.name}" answered ${ask + 1} times without matching its output schema: ${messageOf(error.cause ?? error)}`,
          { task: task.name },
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
