import type { JsonValue } from "../stores/store.js";

/**
 * A task's answer as conditions, guardrails and callbacks see it (CrewAI's `TaskOutput`): the
 * task's name, the raw text, the structured output when the task has an `output` schema (else
 * null), and the role of the agent that gave it.
 */
export interface TaskOutput<T = JsonValue> {
  name: string;
  raw: string;
  structured: T | null;
  agent: string;
}

/** What a guardrail says of an answer: accept it (optionally replacing its text), or refuse it with feedback for the model. */
export type GuardrailResult = { ok: true; output?: string } | { ok: false; feedback: string };

export type Guardrail<T = JsonValue> = (output: TaskOutput<T>) => GuardrailResult | Promise<GuardrailResult>;

/** One step of an agent inside a task — a model answer with the tool calls it asked for and their results — as `stepCallback` gets it. */
export interface AgentStep {
  task: string;
  agent: string;
  text: string;
  toolCalls: { toolName: string; input: JsonValue }[];
  toolResults: { toolName: string; output: JsonValue }[];
}
