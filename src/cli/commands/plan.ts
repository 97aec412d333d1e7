import type { Command } from "commander";
import { planRun } from "../../engine/plan-run.js";
import { table } from "../format.js";
import { parseInputs } from "../inputs.js";
import { loadModule } from "../load-module.js";
import { isFlow } from "../../flow/flow.js";
import { planFlow } from "../../flow/plan-flow.js";
import { storeUrlFrom } from "../../stores/open.js";

interface PlanOptions {
  runId: string;
  input?: string[];
  inputs?: string;
  store?: string;
  model?: string;
  json?: boolean;
}

export function registerPlan(program: Command): void {
  program
    .command("plan")
    .description("say what `run` would do for each task (or flow step), and why, without running anything")
    .argument("<module>", ".ts or .js file whose default export is a Crew or a Flow")
    .requiredOption("--run-id <id>", "the run to plan a resume of")
    .option("--input <key=value>", "an input (repeatable); key=@file reads the value from a file", (v: string, p: string[]) => [...p, v], [])
    .option("--inputs <file.json>", "inputs from a JSON object (text, numbers, flags, lists, objects)")
    .option("--store <url>", "where state lives")
    .option("--model <spec>", "model for every agent, as `run` would use")
    .option("--json", "print JSON")
    .action(async (module: string, options: PlanOptions) => {
      const inputs = parseInputs(options.input, options.inputs);
      const crew = await loadModule(module);
      if (isFlow(crew)) {
        const plan = await planFlow(crew, options.store ?? crew.store ?? storeUrlFrom(), { runId: options.runId, inputs: Object.keys(inputs).length > 0 ? inputs : undefined });
        if (options.json) return void process.stdout.write(`${JSON.stringify(plan, null, 2)}\n`);
        const lines = [`plan for flow run ${plan.runId}${plan.exists ? "" : " (new run)"}:`, table(["STEP", "ACTION"], plan.steps.map((s) => [s.name, s.explanation]))];
        if (plan.then !== null) lines.push(`then: ${plan.then}`);
        return void process.stdout.write(`${lines.join("\n")}\n`);
      }
      const plan = await planRun(crew, options.store ?? crew.store ?? storeUrlFrom(), { runId: options.runId, inputs, model: options.model });
      if (options.json) {
        process.stdout.write(`${JSON.stringify(plan, null, 2)}\n`);
        return;
      }
      const lines = [
        `plan for run ${plan.runId}${plan.exists ? "" : " (new run)"}:`,
        table(["TASK", "ACTION"], plan.tasks.map((t) => [t.name, t.explanation])),
      ];
      if (plan.orphaned.length > 0) lines.push(`stored but no longer in the crew (kept, unused): ${plan.orphaned.join(", ")}`);
      process.stdout.write(`${lines.join("\n")}\n`);
    });
}
