import { asSchema } from "ai";
import { resolveModel, type ResolvedModel } from "../llm/resolve-model.js";
import type { Agent } from "../model/agent.js";
import type { Crew } from "../model/crew.js";
import { interpolate, placeholdersOf } from "../model/interpolate.js";
import type { Task } from "../model/task.js";
import { canonicalJson, hashOf, sha256 } from "./hash.js";
import type { HashParts } from "./plan.js";

/** An agent with its inputs filled in and its model resolved. */
export interface PreparedAgent {
  agent: Agent;
  role: string;
  goal: string;
  backstory: string;
  model: ResolvedModel;
  /** What of the agent enters a task's input hash. */
  fingerprint: string;
}

/** A task with its inputs filled in, its agents prepared and its own hash parts computed. */
export interface PreparedTask {
  name: string;
  index: number;
  task: Task;
  /** Who works the task: its agent, or the manager in a hierarchical crew. */
  agent: PreparedAgent;
  /** In a hierarchical crew, the agents the manager may delegate to; otherwise null. */
  coworkers: PreparedAgent[] | null;
  description: string;
  expectedOutput: string;
  /** Indexes of the tasks whose outputs it sees; null means every earlier task. */
  context: number[] | null;
  parts: Omit<HashParts, "upstream">;
}

/**
 * Everything that can be checked before any model is called: every placeholder has an input,
 * every model spec resolves (API key included, unless `offline`).
 */
export async function prepareTasks(
  crew: Crew,
  inputs: Record<string, string>,
  modelOverride?: string,
  options: { offline?: boolean } = {},
): Promise<PreparedTask[]> {
  const agents = new Map<Agent, PreparedAgent>();
  const prepareAgent = (agent: Agent): PreparedAgent => {
    let prepared = agents.get(agent);
    if (!prepared) {
      const resolved = resolveModel(modelOverride ?? agent.model ?? crew.model, process.env, options);
      const where = `agent "${agent.role}"`;
      prepared = {
        agent,
        role: interpolate(agent.role, inputs, `the role of ${where}`),
        goal: interpolate(agent.goal, inputs, `the goal of ${where}`),
        backstory: interpolate(agent.backstory, inputs, `the backstory of ${where}`),
        model: resolved,
        fingerprint: hashOf({
          role: agent.role,
          goal: agent.goal,
          backstory: agent.backstory,
          model: resolved.id,
          tools: Object.keys(agent.tools).sort(),
          maxSteps: agent.maxSteps,
        }),
      };
      agents.set(agent, prepared);
    }
    return prepared;
  };
  const hierarchical = crew.process === "hierarchical";
  const manager = hierarchical ? prepareAgent(crew.manager!) : undefined;
  const coworkers = hierarchical ? crew.agents.map((a) => prepareAgent(a)) : null;
  const schemas = await Promise.all(crew.tasks.map((task) => (task.output ? schemaJson(task) : null)));

  return crew.tasks.map((task, index) => {
    const agent = manager ?? prepareAgent(task.agent!);
    const team = [agent, ...(coworkers ?? [])];
    const where = `task "${task.name}"`;
    const templates = [task.description, task.expectedOutput, ...team.flatMap((a) => [a.agent.role, a.agent.goal, a.agent.backstory])];
    const inputHashes: Record<string, string> = {};
    for (const key of [...new Set(templates.flatMap(placeholdersOf))].sort()) {
      if (Object.hasOwn(inputs, key)) inputHashes[key] = sha256(inputs[key]!);
    }
    return {
      name: task.name,
      index,
      task,
      agent,
      coworkers,
      description: interpolate(task.description, inputs, `the description of ${where}`),
      expectedOutput: interpolate(task.expectedOutput, inputs, `the expected output of ${where}`),
      context: task.context ? task.context.map((t) => crew.tasks.indexOf(t)) : null,
      parts: {
        prompt: hashOf({ description: task.description, expectedOutput: task.expectedOutput }),
        inputs: inputHashes,
        schema: task.output ? sha256(canonicalJson(schemas[index])) : null,
        agent: coworkers ? hashOf({ manager: agent.fingerprint, coworkers: coworkers.map((c) => c.fingerprint) }) : agent.fingerprint,
      },
    };
  });
}

async function schemaJson(task: Task): Promise<unknown> {
  return await asSchema(task.output as Parameters<typeof asSchema>[0]).jsonSchema;
}
