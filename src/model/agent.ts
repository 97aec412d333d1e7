import type { LanguageModel, ToolSet } from "ai";
import { CrewstateError, quote } from "../errors.js";

export interface AgentConfig {
  role: string;
  goal: string;
  backstory: string;
  /** A Vercel AI SDK `LanguageModel`, or a spec such as `openai:gpt-4o-mini` or `demo`. */
  model?: string | LanguageModel;
  /** AI SDK tools the agent may call. */
  tools?: ToolSet;
  /** The most model calls one task may take (tool round trips included). Default 10. */
  maxSteps?: number;
}

/** Someone with a role, a goal and a backstory, who works on tasks with a model and tools. */
export class Agent {
  readonly role: string;
  readonly goal: string;
  readonly backstory: string;
  readonly model: string | LanguageModel | undefined;
  readonly tools: ToolSet;
  readonly maxSteps: number;

  constructor(config: AgentConfig) {
    for (const field of ["role", "goal", "backstory"] as const) {
      if (typeof config?.[field] !== "string" || config[field].trim() === "") {
        throw new CrewstateError("INVALID_DEFINITION", `an Agent needs a non-empty ${quote(field)} string`, { field });
      }
    }
    const maxSteps = config.maxSteps ?? 10;
    if (!Number.isInteger(maxSteps) || maxSteps < 1) {
      throw new CrewstateError("INVALID_DEFINITION", `agent ${quote(config.role)} has maxSteps ${config.maxSteps}; use a whole number ≥ 1`);
    }
    this.role = config.role;
    this.goal = config.goal;
    this.backstory = config.backstory;
    this.model = config.model;
    this.tools = { ...(config.tools ?? {}) };
    this.maxSteps = maxSteps;
  }
}
