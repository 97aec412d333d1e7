import { lstatSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { asSchema } from "ai";
import { CrewstateError, quote } from "../errors.js";
import { resolveModel, type ResolvedModel } from "../llm/resolve-model.js";
import type { Agent } from "../model/agent.js";
import type { Crew } from "../model/crew.js";
import { interpolate, placeholdersOf } from "../model/interpolate.js";
import { isConditionalTask } from "../model/conditional-task.js";
import type { Task } from "../model/task.js";
import type { Inputs, JsonValue } from "../stores/store.js";
import { canonicalJson, hashOf, sha256 } from "../hash.js";
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
  /** Indexes of the tasks whose outputs it sees; null means the default (see `scheduleOf`). */
  context: number[] | null;
  /** A ConditionalTask: its condition decides, from the previous task's output, whether it runs. */
  conditional: boolean;
  /** Where the accepted output is written, as an absolute path; null when the task names no file. */
  outputFile: string | null;
  parts: Omit<HashParts, "upstream">;
}

/**
 * Everything that can be checked before any model is called: every placeholder has an input,
 * every model spec resolves (API key included, unless `offline`).
 */
export async function prepareTasks(
  crew: Crew,
  inputs: Inputs,
  modelOverride?: string,
  options: { offline?: boolean } = {},
): Promise<PreparedTask[]> {
  const hierarchical = crew.process === "hierarchical";
  const models = new Map<Agent, ResolvedModel>();
  for (const agent of hierarchical ? [crew.manager!, ...crew.agents] : crew.tasks.map((t) => t.agent!)) {
    if (!models.has(agent)) models.set(agent, await resolveModel(modelOverride ?? agent.model ?? crew.model, process.env, options));
  }
  const agents = new Map<Agent, PreparedAgent>();
  const prepareAgent = (agent: Agent): PreparedAgent => {
    let prepared = agents.get(agent);
    if (!prepared) {
      const resolved = models.get(agent)!;
      const where = `agent ${quote(agent.role)}`;
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
  const manager = hierarchical ? prepareAgent(crew.manager!) : undefined;
  const coworkers = hierarchical ? crew.agents.map((a) => prepareAgent(a)) : null;
  const schemas = await Promise.all(crew.tasks.map((task) => (task.output ? schemaJson(task) : null)));

  return crew.tasks.map((task, index) => {
    const agent = manager ?? prepareAgent(task.agent!);
    const team = [agent, ...(coworkers ?? [])];
    const where = `task ${quote(task.name)}`;
    const templates = [task.description, task.expectedOutput, ...team.flatMap((a) => [a.agent.role, a.agent.goal, a.agent.backstory])];
    const inputHashes: Record<string, string> = {};
    for (const key of [...new Set(templates.flatMap(placeholdersOf))].sort()) {
      if (Object.hasOwn(inputs, key)) inputHashes[key] = inputHash(inputs[key]!);
    }
    const conditional = isConditionalTask(task);
    return {
      name: task.name,
      index,
      task,
      agent,
      coworkers,
      description: interpolate(task.description, inputs, `the description of ${where}`),
      expectedOutput: interpolate(task.expectedOutput, inputs, `the expected output of ${where}`),
      context: task.context ? task.context.map((t) => crew.tasks.indexOf(t)) : null,
      conditional,
      outputFile: task.outputFile === undefined ? null : checkOutputFile(interpolate(task.outputFile, inputs, `the outputFile of ${where}`), where),
      parts: {
        prompt: hashOf({
          description: task.description,
          expectedOutput: task.expectedOutput,
          // A condition or guardrail decides what the result is: a change to its code makes the result stale.
          condition: conditional ? sourceHash((task as { condition: unknown }).condition) : undefined,
          guardrail: task.guardrail ? { source: sourceHash(task.guardrail), retries: task.guardrailMaxRetries } : undefined,
        }),
        inputs: inputHashes,
        schema: task.output ? sha256(canonicalJson(schemas[index])) : null,
        agent: coworkers ? hashOf({ manager: agent.fingerprint, coworkers: coworkers.map((c) => c.fingerprint) }) : agent.fingerprint,
      },
    };
  });
}

/** Text inputs hash as they always have; any other JSON value by its canonical text, in a space of its own. */
function inputHash(value: JsonValue): string {
  return typeof value === "string" ? sha256(value) : sha256(`json:${canonicalJson(value)}`);
}

function sourceHash(fn: unknown): string {
  return sha256(String(fn));
}

/**
 * An output file's path, checked before any model is called: it must name a file (not a
 * folder, not a device), in a place where a folder can be made.
 */
function checkOutputFile(path: string, where: string): string {
  const bad = (why: string) =>
    new CrewstateError("INVALID_DEFINITION", `the outputFile of ${where}, ${JSON.stringify(path)}, ${why}`, { path });
  if (path.includes("\0")) throw bad("contains a NUL character");
  if (/[\\/]$/.test(path) || path.trim() === "") throw bad("names a folder, not a file");
  const target = resolve(path);
  const existing = statOrUndefined(target, lstatSync);
  if (existing && !existing.isFile()) throw bad(existing.isSymbolicLink() ? "is a symbolic link" : "exists and is not a regular file");
  let dir = dirname(target);
  for (let stat = statOrUndefined(dir, statSync); ; stat = statOrUndefined(dir, statSync)) {
    if (stat) {
      if (!stat.isDirectory()) throw bad(`cannot be made: ${JSON.stringify(dir)} is not a folder`);
      break;
    }
    dir = dirname(dir);
  }
  return target;
}

function statOrUndefined(path: string, stat: typeof statSync) {
  try {
    return stat(path);
  } catch {
    return undefined;
  }
}

async function schemaJson(task: Task): Promise<unknown> {
  return await asSchema(task.output as Parameters<typeof asSchema>[0]).jsonSchema;
}
