import type { Command } from "commander";
import { fork } from "../../runs/fork.js";
import { parseInputs } from "../inputs.js";
import { withStore } from "../with-store.js";

interface ForkCliOptions {
  at?: string;
  runId?: string;
  input?: string[];
  inputs?: string;
  store?: string;
  json?: boolean;
}

export function registerFork(program: Command): void {
  program
    .command("fork")
    .description("copy a run under a new ID — whole, or up to a task (--at), with other inputs if given — for a kickoff to take on from there; the source is not changed")
    .argument("<run-id>", "the run to fork")
    .option("--at <task>", "leave out this task and every task after it (a flow: this step's executions and all later ones)")
    .option("--run-id <id>", "the fork's run ID (default: <run-id>-fork-<4 hex digits>); an existing run is never overwritten")
    .option("--input <key=value>", "an input replacing the source's (repeatable); key=@file reads the value from a file", (v: string, p: string[]) => [...p, v], [])
    .option("--inputs <file.json>", "inputs replacing the source's, from a JSON object")
    .option("--store <url>", "where state lives")
    .option("--json", "print JSON")
    .action(async (source: string, options: ForkCliOptions) => {
      const inputs = parseInputs(options.input, options.inputs);
      await withStore(
        options.store,
        async (store) => {
          const result = await fork(store, source, { runId: options.runId, at: options.at, inputs });
          if (options.json) return void process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
          const lines = [`forked run ${result.from}${result.at === null ? "" : ` at ${result.at}`} into run ${result.runId} (${result.status})`];
          lines.push(`copied: ${result.copied.join(", ") || "nothing"}`);
          if (result.dropped.length > 0) lines.push(`left out, run at the next kickoff: ${result.dropped.join(", ")}`);
          if (result.inputsChanged.length > 0) lines.push(`inputs changed: ${result.inputsChanged.join(", ")}`);
          lines.push(`state: ${result.store}`, `next: crewstate run <module> --run-id ${result.runId} (with the fork's inputs: crewstate show ${result.runId} lists them)`);
          process.stdout.write(`${lines.join("\n")}\n`);
        },
        { runId: source },
      );
    });
}
