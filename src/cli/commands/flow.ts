import { Option, type Command } from "commander";
import { CrewstateError, quote } from "../../errors.js";
import { isFlow } from "../../flow/flow.js";
import { giveFeedback } from "../../flow/operator.js";
import { plotFlow } from "../../flow/plot.js";
import { loadModule } from "../load-module.js";
import { readInputFile } from "../read-input-file.js";
import { withStore } from "../with-store.js";

export function registerFlow(program: Command): void {
  program
    .command("feedback")
    .description("answer a flow step waiting for a person; run the flow again to go on with it")
    .argument("<run-id>")
    .argument("<step>", "the waiting step (or its execution, e.g. ask#2)")
    .option("--text <text>", "what you say")
    .option("--file <path>", "read what you say from a file")
    .addOption(new Option("--approve", "approve (the step's result gets verdict \"approved\")").conflicts("reject"))
    .option("--reject", "reject (verdict \"rejected\")")
    .option("--store <url>", "where state lives")
    .action(async (runId: string, step: string, options: { text?: string; file?: string; approve?: boolean; reject?: boolean; store?: string }) => {
      if (options.text !== undefined && options.file !== undefined) throw new CrewstateError("INVALID_INPUT", "feedback takes --text or --file, not both");
      const text = options.file !== undefined ? readInputFile(options.file, "--file") : options.text;
      const verdict = options.approve ? "approved" : options.reject ? "rejected" : undefined;
      await withStore(
        options.store,
        async (store) => {
          const record = await giveFeedback(store, runId, step, { text, verdict });
          process.stdout.write(`feedback recorded on ${record.name} of flow run ${runId}${verdict ? ` (${verdict})` : ""}; \`crewstate run … --run-id ${runId}\` goes on with it\n`);
        },
        { runId },
      );
    });

  program
    .command("plot")
    .description("print a flow's graph as Mermaid text (paste it into any Mermaid viewer, or a Markdown file)")
    .argument("<flow-module>", ".ts or .js file whose default export is a Flow")
    .action(async (module: string) => {
      const flow = await loadModule(module);
      if (!isFlow(flow)) throw new CrewstateError("INVALID_MODULE", `module ${quote(module)} exports a Crew, not a Flow; plot draws flows`, { path: module });
      process.stdout.write(plotFlow(flow));
    });
}
