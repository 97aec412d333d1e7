import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { isCrewstateError, messageOf } from "../errors.js";
import { redactSecrets } from "../redact.js";
import { registerDiff } from "./commands/diff.js";
import { registerDoctor } from "./commands/doctor.js";
import { registerFlow } from "./commands/flow.js";
import { registerFork } from "./commands/fork.js";
import { registerInvalidate } from "./commands/invalidate.js";
import { registerOutput } from "./commands/output.js";
import { registerPlan } from "./commands/plan.js";
import { registerPrune } from "./commands/prune.js";
import { registerRekey } from "./commands/rekey.js";
import { registerReview } from "./commands/review.js";
import { registerRun } from "./commands/run.js";
import { registerRuns } from "./commands/runs.js";
import { registerShow } from "./commands/show.js";
import { registerTransfer } from "./commands/transfer.js";
import { registerUi } from "./commands/ui.js";
import { registerWorker } from "./commands/worker.js";

const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };

const HELP_AFTER = `
Environment:
  CREWSTATE_STORE      default store URL (else sqlite:.crewstate/state.db)
                       sqlite:<path> | json:<path> | postgres://… | redis://… | memory:
  CREWSTATE_MODEL      default model for agents that name none:
                       demo | openai:<model> | anthropic:<model> | google:<model> | ollama:<model>
  OPENAI_API_KEY       key for openai:<model>
  OPENAI_BASE_URL      OpenAI-compatible endpoint (Ollama, vLLM, llama.cpp…)
  ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL                        for anthropic:<model> (npm install @ai-sdk/anthropic)
  GOOGLE_GENERATIVE_AI_API_KEY, GOOGLE_GENERATIVE_AI_BASE_URL  for google:<model> (npm install @ai-sdk/google)
  OLLAMA_BASE_URL      for ollama:<model> (npm install ollama-ai-provider-v2; default http://127.0.0.1:11434/api)
  CREWSTATE_LOG_LEVEL  pino log level on stderr (default: silent for run and worker; info logs every state change)
  NO_COLOR             any value: no colors in crewstate run's view

Examples:
  crewstate run examples/claims-triage/crew.ts --run-id claim-123 --input notes=@examples/claims-triage/case-notes.txt
  crewstate plan examples/claims-triage/crew.ts --run-id claim-123 --input notes=@examples/claims-triage/case-notes.txt
  crewstate show claim-123
  crewstate invalidate claim-123 analyze_task
  crewstate output claim-123 draft_task
  crewstate fork claim-123 --at draft_task --run-id claim-123-b --input notes=@other-notes.txt
  crewstate diff claim-123 claim-123-b
  crewstate run examples/self-review/flow.ts --run-id post-1 --model demo
  crewstate feedback post-1 ask --approve
  crewstate plot examples/self-review/flow.ts
  crewstate ui --store sqlite:.crewstate/state.db
  crewstate doctor --store sqlite:.crewstate/state.db
  crewstate prune --older-than 30d --keep-last 10 --dry-run
  crewstate export --all --store json:crew_state.json > runs.jsonl
  crewstate migrate --from sqlite:.crewstate/state.db --to postgres://localhost/app
  crewstate enqueue crew.ts --run-id claim-9 --input notes=@notes.txt --store postgres://localhost/app
  crewstate worker crew.ts --store postgres://localhost/app --concurrency 4`;

export function buildProgram(): Command {
  const program = new Command("crewstate")
    .description("Run CrewAI-style crews whose every task is checkpointed, and inspect or steer their runs.")
    .version(version)
    .addHelpText("after", HELP_AFTER)
    .showSuggestionAfterError()
    .exitOverride();
  for (const register of [registerRun, registerPlan, registerRuns, registerShow, registerOutput, registerInvalidate, registerReview, registerFlow, registerFork, registerDiff, registerTransfer, registerRekey, registerWorker, registerDoctor, registerUi, registerPrune]) {
    register(program);
  }
  for (const command of program.commands) command.exitOverride();
  return program;
}

/** Runs the CLI; every failure ends as one line on stderr and a non-zero exit code. */
export async function main(argv: string[] = process.argv): Promise<number> {
  // A closed pipe (`crewstate show … | head`) is the reader's choice, not an error.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(0);
    throw error;
  });
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander has already printed its message (or the help / version).
      return error.exitCode === 0 ? 0 : 2;
    }
    const message = isCrewstateError(error) ? messageOf(error) : `unexpected error: ${messageOf(error)}`;
    process.stderr.write(`crewstate: ${message}\n`);
    if (process.env.CREWSTATE_DEBUG && error instanceof Error) process.stderr.write(`${redactSecrets(String(error.stack))}\n`);
    return 1;
  }
}
