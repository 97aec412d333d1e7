import { generateText, NoObjectGeneratedError, Output, stepCountIs, streamText, wrapLanguageModel, type ModelMessage, type StepResult, type ToolSet } from "ai";
import type { z } from "zod";
import { CrewstateError, messageOf, quote } from "../errors.js";
import type { AgentStep, Guardrail, TaskOutput } from "../model/task-output.js";
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

/** What an attempt does besides asking the model: check answers, and report each step. */
export interface LoopHooks {
  guardrail?: Guardrail<any>;
  /** Refusals the guardrail may give before the task fails. */
  guardrailMaxRetries?: number;
  onStep?: (step: AgentStep) => void | Promise<void>;
  /** Ask the model for a stream, so the journal can tell the run's observers each piece of text as it comes. */
  stream?: boolean;
}

/**
 * One attempt at a task: its agent's model-and-tools loop (in a hierarchical crew, the manager's,
 * with tools to delegate to coworkers), every call going through the journal. An answer its
 * guardrail refuses is asked again in the same conversation, with the feedback; the refused
 * answers stay in the journal (and on the ledger), so a resume replays them in order.
 */
export async function runAgentLoop(task: PreparedTask, context: string, journal: TaskJournal, signal?: AbortSignal, hooks: LoopHooks = {}): Promise<TaskAnswer> {
  journal.restart();
  const delegation = task.coworkers
    ? delegationTools(task.coworkers, journal, (coworker, prompt, nested) => agentTurn(coworker, prompt, nested, {}, undefined, task.name, signal, { onStep: hooks.onStep, stream: hooks.stream }))
    : {};
  return agentTurn(task.agent, taskPrompt(task, context), journal, delegation, task.task.output, task.name, signal, hooks);
}

/** An agent answering one prompt, with its tools (plus `extraTools`), re-asked on schema failures and guardrail refusals. */
async function agentTurn(
  agent: PreparedAgent,
  prompt: string,
  journal: TaskJournal,
  extraTools: ToolSet,
  schema: z.ZodType | undefined,
  taskName: string,
  signal: AbortSignal | undefined,
  hooks: LoopHooks,
): Promise<TaskAnswer> {
  const model = wrapLanguageModel({ model: agent.model.model as Parameters<typeof wrapLanguageModel>[0]["model"], middleware: journal.middleware(agent.model.id) });
  const tools = journal.wrapTools({ ...agent.agent.tools, ...extraTools });
  const messages: ModelMessage[] = [{ role: "user", content: prompt }];
  const onStep = hooks.onStep;
  let refusals = 0;
  for (let ask = 0; ; ) {
    try {
      const answer = await askModel(
        {
          model,
          system: systemPrompt(agent),
          messages,
          tools: Object.keys(tools).length > 0 ? tools : undefined,
          stopWhen: stepCountIs(agent.agent.maxSteps),
          maxRetries: 0,
          abortSignal: signal,
          ...(onStep ? { onStepFinish: (step: StepResult<ToolSet>) => onStep(agentStep(step, taskName, agent.role)) } : {}),
          ...(schema ? { output: Output.object({ schema }) } : {}),
        },
        schema !== undefined,
        hooks.stream === true,
      );
      if (!hooks.guardrail) return answer;
      const verdict = await checkAnswer(hooks.guardrail, { name: taskName, raw: answer.output, structured: answer.structured, agent: agent.role }, taskName);
      if (verdict.ok) return verdict.output === undefined ? answer : { ...answer, output: verdict.output };
      refusals += 1;
      if (refusals > (hooks.guardrailMaxRetries ?? 3)) {
        throw new CrewstateError(
          "GUARDRAIL_REFUSED",
          `task ${quote(taskName)}: its guardrail refused ${refusals} answer(s); last feedback: ${oneLine(verdict.feedback)}`,
          { task: taskName },
        );
      }
      messages.push(
        { role: "assistant", content: answer.output },
        { role: "user", content: `Your answer was not accepted: ${verdict.feedback}\nGive your complete final answer again, addressing this.` },
      );
    } catch (error) {
      if (!schema || !NoObjectGeneratedError.isInstance(error)) throw error;
      if (ask++ >= SCHEMA_REASKS) {
        throw new CrewstateError(
          "OUTPUT_INVALID",
          `task ${quote(taskName)} answered ${ask} times without matching its output schema: ${messageOf(error.cause ?? error)}`,
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

/**
 * One ask of the model-and-tools loop, generated or streamed: the same answer either way. A
 * streamed ask reports its failure through `onError`; that error, not the SDK's "no output", is
 * what the caller sees (so retries and schema re-asks work alike).
 */
async function askModel(options: Parameters<typeof generateText>[0], structured: boolean, stream: boolean): Promise<TaskAnswer> {
  if (!stream) {
    const result = await generateText(options);
    return { output: result.text, structured: structured ? (result.output as JsonValue) : null };
  }
  let failure: { error: unknown } | undefined;
  const result = streamText({ ...(options as Parameters<typeof streamText>[0]), onError: ({ error }) => void (failure ??= { error }) });
  try {
    const output = await result.text;
    const answer = { output, structured: structured ? ((await result.output) as JsonValue) : null };
    if (failure) throw failure.error;
    return answer;
  } catch (error) {
    throw failure ? failure.error : error;
  }
}

/** Runs a guardrail; anything but a well-formed verdict is the guardrail's fault, said so. */
async function checkAnswer(guardrail: Guardrail<any>, output: TaskOutput<any>, taskName: string): Promise<{ ok: true; output?: string } | { ok: false; feedback: string }> {
  let verdict: unknown;
  try {
    verdict = await guardrail(output);
  } catch (error) {
    throw new CrewstateError("HOOK_FAILED", `the guardrail of task ${quote(taskName)} threw: ${messageOf(error)}`, { task: taskName }, { cause: error });
  }
  const v = verdict as { ok?: unknown; output?: unknown; feedback?: unknown } | null;
  if (v?.ok === true && (v.output === undefined || typeof v.output === "string")) return v as { ok: true; output?: string };
  if (v?.ok === false && typeof v.feedback === "string") return v as { ok: false; feedback: string };
  throw new CrewstateError(
    "HOOK_FAILED",
    `the guardrail of task ${quote(taskName)} returned ${oneLine(JSON.stringify(verdict) ?? String(verdict))}; return { ok: true, output?: string } or { ok: false, feedback: string }`,
    { task: taskName },
  );
}

function agentStep(step: StepResult<ToolSet>, task: string, agent: string): AgentStep {
  return {
    task,
    agent,
    text: step.text,
    toolCalls: step.toolCalls.map((call) => ({ toolName: call.toolName, input: (call.input ?? null) as JsonValue })),
    toolResults: step.toolResults.map((result) => ({ toolName: result.toolName, output: (result.output ?? null) as JsonValue })),
  };
}

function oneLine(text: string, max = 300): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
