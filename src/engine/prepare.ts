import { asSchema } from "ai";
import { resolveModel, type ResolvedModel } from "../llm/resolve-model.js";
import type { Agent } from "../model/agent.js";
import type { Crew } from "../model/crew.js";
import { interpolate, placeholdersOf } from "../model/interpolate.js";
import type { Task } from "../model/task.js";
import { canonicalJson, hashOf, sha256 } from "./hash.js";
import type { HashParts } from "./plan.js";

/** A task with its inputs filled in, its model resolved and its own hash parts computed. */
export interface PreparedTask {
  name: string;
  index: number;
  task: Task;
  agent: Agent;
  role: string;
  goal: string;
  backstory: string;
  description: string;
  expectedOutput: string;
  model: ResolvedModel;
  /** Indexes of the tasks whose outputs it sees; null means every earlier task. */
  context: number[] | null;
  parts: Omit<HashParts, "upstream">;
}

/**
 * Everything that can be checked before any model is called: every placeholder has an input,
 * every model spec resolves (API key included).
 */
export async function prepareTasks(
  crew: Crew,
  inputs: Record<string, string>,
  modelOverride?: string,
  options: { offline?: boolean } = {},
): Promise<PreparedTask[]> {
  const models = new Map<Agent, ResolvedModel>();
  const schemas = await Promise.all(crew.tasks.map((task) => (task.output ? schemaJson(task) : null)));
  return crew.tasks.map((task, index) => {
    const agent = task.agent!;
    let model = models.get(agent);
    if (!model) {
      model = resolveModel(modelOverride ?? agent.model ?? crew.model, process.env, options);
      models.set(agent, model);
    }
    const where = `task "${task.name}"`;
    const templates = [task.description, task.expectedOutput, agent.role, agent.goal, agent.backstory];
    const used = new Set(templates.flatMap(placeholdersOf));
    const inputHashes: Record<string, string> = {};
    for (const key of [...used].sort()) if (Object.hasOwn(inputs, key)) inputHashes[key] = sha256(inputs[key]!);
    return {
      name: task.name,
      index,
      task,
      agent,
      description: interpolate(task.description, inputs, `the description of ${where}`),
      expectedOutput: interpolate(task.expectedOutput, inputs, `the expected output of ${where}`),
      role: interpolate(agent.role, inputs, `the role of the agent of ${where}`),
      goal: interpolate(agent.goal, inputs, `the goal of the agent of ${where}`),
      backstory: interpolate(agent.backstory, inputs, `the backstory of the agent of ${where}`),
      model,
      context: task.context ? task.context.map((t) => crew.tasks.indexOf(t)) : null,
      parts: {
        prompt: hashOf({ description: task.description, expectedOutput: task.expectedOutput }),
        inputs: inputHashes,
        schema: task.output ? sha256(canonicalJson(schemas[index])) : null,
        agent: hashOf({
          role: agent.role,
          goal: agent.goal,
          backstory: agent.backstory,
          model: model.id,
          tools: Object.keys(agent.tools).sort(),
          maxSteps: agent.maxSteps,
        }),
      },
    };
  });
}

async function schemaJson(task: Task): Promise<unknown> {
  return await asSchema(task.output as Parameters<typeof asSchema>[0]).jsonSchema;
}
