import type { Command } from "commander";
import { startWorker } from "../../engine/worker.js";
import { CrewstateError, quote } from "../../errors.js";
import { defaultLogger } from "../../log.js";
import { parseInputs } from "../inputs.js";
import { loadModule, type Runnable } from "../load-module.js";
import { isFlow } from "../../flow/flow.js";
import { createRunView } from "../view/run-view.js";

export function registerWorker(program: Command): void {
  program
    .command("enqueue")
    .description("queue a run of a crew or flow for its workers (needs a postgres:// or redis:// store)")
    .argument("<module>", ".ts or .js file whose default export is a Crew or a Flow")
    .option("--run-id <id>", "the run to queue (resumed if it exists)")
    .option("--input <key=value>", "an input (repeatable); key=@file reads the value from a file", (v: string, p: string[]) => [...p, v], [])
    .option("--inputs <file.json>", "inputs from a JSON object (text, numbers, flags, lists, objects)")
    .option("--store <url>", "the store whose server carries the queue")
    .option("--job-timeout <ms>", "how long a worker may hold the run unacknowledged before another takes it (pg-boss)", "60000")
    .action(async (module: string, options: { runId?: string; input?: string[]; inputs?: string; store?: string; jobTimeout: string }) => {
      const jobTimeoutMs = wholeNumber("--job-timeout", options.jobTimeout);
      const inputs = parseInputs(options.input, options.inputs);
      const crew = await loadModule(module);
      const { runId } = await crew.enqueue({ inputs, runId: options.runId, store: options.store, jobTimeoutMs });
      process.stdout.write(`queued run ${runId} of ${kindOf(crew)} ${crew.name}; start workers with: crewstate worker ${module} --store <url>\n`);
    });

  program
    .command("worker")
    .description("work queued runs of a crew or flow until stopped (SIGTERM or Ctrl-C finishes the runs in hand)")
    .argument("<module>", ".ts or .js file whose default export is a Crew or a Flow")
    .option("--store <url>", "a postgres:// or redis:// store")
    .option("--concurrency <n>", "runs worked at once", "1")
    .option("--lease-ttl <ms>", "how long a claimed task stays claimed without renewal", "30000")
    .option("--events", "print what the runs do, one line per task and call, each naming its run and task")
    .action(async (module: string, options: { store?: string; concurrency: string; leaseTtl: string; events?: boolean }) => {
      const concurrency = wholeNumber("--concurrency", options.concurrency);
      const leaseTtlMs = wholeNumber("--lease-ttl", options.leaseTtl);
      const crew = await loadModule(module);
      const worker = await startWorker(crew, {
        store: options.store,
        concurrency,
        leaseTtlMs,
        logger: defaultLogger(process.env.CREWSTATE_LOG_LEVEL ?? "silent"),
        onRun: (event) => process.stdout.write(`run ${event.runId}: ${event.outcome}${event.detail ? ` (${event.detail})` : ""}\n`),
        observers: options.events ? [createRunView(process.stdout, { mode: "normal", stream: false, runIds: true })] : [],
      });
      process.stdout.write(`worker ${process.pid} working ${kindOf(crew)} ${crew.name} (concurrency ${concurrency})\n`);
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          process.stdout.write(`${signal}: finishing the runs in hand, then stopping\n`);
          resolve();
        };
        process.once("SIGTERM", () => stop("SIGTERM"));
        process.once("SIGINT", () => stop("SIGINT"));
      });
      await worker.stop();
      process.stdout.write("worker stopped\n");
    });
}

function kindOf(runnable: Runnable): string {
  return isFlow(runnable) ? "flow" : "crew";
}

function wholeNumber(flag: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new CrewstateError("INVALID_INPUT", `${flag} must be a whole number ≥ 1, got ${quote(text)}`);
  return value;
}
