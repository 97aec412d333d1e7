import { Option, type Command } from "commander";
import { kickoff } from "../../engine/kickoff.js";
import type { Budget } from "../../engine/ledger.js";
import { CrewstateError, quote } from "../../errors.js";
import { defaultLogger } from "../../log.js";
import { storeUrlFrom } from "../../stores/open.js";
import { shownUrl } from "../../redact.js";
import { parseInputs } from "../inputs.js";
import { guardedExit } from "../exit-guard.js";
import { loadModule } from "../load-module.js";
import { isFlow } from "../../flow/flow.js";
import { runFlowFromCli } from "./run-flow.js";
import type { RunOptions } from "./run-options.js";
import { money } from "../format.js";
import { createRunView } from "../view/run-view.js";


export function registerRun(program: Command): void {
  program
    .command("run")
    .description("run a crew or a flow, or resume the run --run-id names")
    .argument("<module>", ".ts or .js file whose default export is a Crew or a Flow")
    .option("--run-id <id>", "resume this run if it exists, else start it under this ID")
    .option("--input <key=value>", "an input (repeatable); key=@file reads the value from a file", collect, [])
    .option("--inputs <file.json>", "inputs from a JSON object (text, numbers, flags, lists, objects)")
    .option("--store <url>", "where state lives (default: the crew's store, CREWSTATE_STORE, or sqlite:.crewstate/state.db)")
    .option("--model <spec>", "model for every agent: demo, or openai:<model>")
    .option("--replay-from <run-id>", "answer every model and tool call from that run's recording (same store); no live calls")
    .option("--max-tokens <n>", "stop the run once it has spent this many tokens, over all its kickoffs")
    .option("--max-cost <usd>", "stop the run once it has spent this many US dollars, over all its kickoffs")
    .option("--json", "print the result as JSON instead of progress")
    .addOption(new Option("--verbose", "print each agent's turns in full: prompts, answers, tool arguments and results").conflicts(["json", "quiet"]))
    .addOption(new Option("--quiet", "print only the result (the last task's output)").conflicts("json"))
    .addOption(new Option("--stream", "print each answer as the model generates it").conflicts(["json", "quiet"]))
    .action(async (module: string, options: RunOptions) => {
      const inputs = parseInputs(options.input, options.inputs);
      const crew = await loadModule(module);
      if (isFlow(crew)) return runFlowFromCli(crew, module, inputs, options);
      // A URL is opened by kickoff only after the crew, inputs and models check out.
      const store = options.store ?? crew.store ?? storeUrlFrom();
      const say = options.json || options.quiet ? () => {} : (line: string) => process.stdout.write(`${line}\n`);
      const view = options.json ? undefined : createRunView(process.stdout, { mode: options.quiet ? "quiet" : options.verbose ? "verbose" : "normal", stream: options.stream === true });
      {
        let result: Awaited<ReturnType<typeof kickoff>>;
        try {
          result = await guardedExit(`crew module ${quote(module)}`, "while the crew ran", () =>
            kickoff(crew, {
              inputs,
              runId: options.runId,
              store,
              model: options.model,
              replayFrom: options.replayFrom,
              budget: budgetFrom(options),
              // The view already says what happens; logs only when asked for.
              logger: defaultLogger(process.env.CREWSTATE_LOG_LEVEL ?? "silent"),
              observers: view ? [view] : [],
            }),
          );
        } finally {
          view?.close();
        }
        if (options.quiet) {
          process.stdout.write(`${result.output}
`);
          return;
        }
        if (options.json) {
          process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
          return;
        }
        const counts = (outcome: string) => result.tasks.filter((t) => t.outcome === outcome).length;
        say(
          `run ${result.runId} ${result.status}: ${counts("ran")} ran, ${counts("rerun")} rerun, ${counts("reused")} reused` +
            (counts("skipped") > 0 ? `, ${counts("skipped")} skipped` : "") +
            " · " +
            `${result.calls.made} model/tool call(s) made, ${result.calls.replayed} replayed · ` +
            `tokens in ${result.usage.inputTokens} / out ${result.usage.outputTokens}${money(result.usage.costUsd)}` +
            (result.calls.replayed > 0 ? ` · saved by replay: ${result.saved.inputTokens + result.saved.outputTokens} tokens${money(result.saved.costUsd)}` : ""),
        );
        if (result.awaiting !== null) {
          say(`task ${result.awaiting} awaits review: \`crewstate approve ${result.runId} ${result.awaiting}\` (or \`crewstate edit …\`), then run again`);
        }
        if (result.orphaned.length > 0) say(`kept but unused (no longer in the crew): ${result.orphaned.join(", ")}`);
        say(`state: ${result.store} · inspect with: crewstate show ${result.runId}${options.store ? ` --store ${shownUrl(options.store)}` : ""}`);
        say(`\n--- ${result.tasks[result.tasks.length - 1]!.name} ---\n${result.output}`);
      }
    });
}

function budgetFrom(options: RunOptions): Budget | undefined {
  const number = (flag: string, text: string | undefined) => {
    if (text === undefined) return undefined;
    const value = Number(text);
    if (!Number.isFinite(value) || value <= 0) throw new CrewstateError("INVALID_INPUT", `${flag} must be a positive number, got ${quote(text)}`);
    return value;
  };
  const maxTokens = number("--max-tokens", options.maxTokens);
  const maxCostUsd = number("--max-cost", options.maxCost);
  return maxTokens === undefined && maxCostUsd === undefined ? undefined : { maxTokens, maxCostUsd };
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
