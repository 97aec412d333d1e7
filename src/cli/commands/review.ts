import type { Command } from "commander";
import { approveTask, editTaskOutput } from "../../engine/operator.js";
import { CrewstateError } from "../../errors.js";
import { readInputFile } from "../read-input-file.js";
import { withStore } from "../with-store.js";

export function registerReview(program: Command): void {
  program
    .command("edit")
    .description("replace a completed task's output with your own (tasks that read it rerun on the next run)")
    .argument("<run-id>")
    .argument("<task>")
    .option("--text <text>", "the new output")
    .option("--file <path>", "read the new output from a file")
    .option("--store <url>", "where state lives")
    .action(async (runId: string, task: string, options: { text?: string; file?: string; store?: string }) => {
      if ((options.text === undefined) === (options.file === undefined)) {
        throw new CrewstateError("INVALID_INPUT", "edit needs exactly one of --text <text> or --file <path>");
      }
      let output = options.text;
      if (options.file !== undefined) {
        output = readInputFile(options.file, "--file");
      }
      await withStore(
        options.store,
        async (store) => {
          await editTaskOutput(store, runId, task, output!);
          process.stdout.write(`edited the output of task ${task} of run ${runId}; tasks that read it rerun on the next run\n`);
        },
        { runId },
      );
    });

  program
    .command("approve")
    .description("approve a task's result, releasing a run held for review; run it again to go on")
    .argument("<run-id>")
    .argument("<task>")
    .option("--store <url>", "where state lives")
    .action(async (runId: string, task: string, options: { store?: string }) => {
      await withStore(
        options.store,
        async (store) => {
          await approveTask(store, runId, task);
          process.stdout.write(`approved task ${task} of run ${runId}; \`crewstate run … --run-id ${runId}\` goes on from there\n`);
        },
        { runId },
      );
    });
}
