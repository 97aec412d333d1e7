import type { Command } from "commander";
import { diagnoseStore } from "../../engine/doctor.js";
import { CrewstateError } from "../../errors.js";
import { storeUrlFrom } from "../../stores/open.js";

export function registerDoctor(program: Command): void {
  program
    .command("doctor")
    .description("check that a store's state is whole (output hashes, event logs; on SQLite the file and its WAL); reads only")
    .option("--store <url>", "where state lives")
    .option("--run <id>", "check only this run")
    .option("--json", "print JSON: { store, healthy, runs, tasks, events, findings: [{ runId, task, message }] }")
    .action(async (options: { store?: string; run?: string; json?: boolean }) => {
      const report = await diagnoseStore(storeUrlFrom(options.store), { runId: options.run });
      const healthy = report.findings.length === 0;
      if (options.json) {
        process.stdout.write(`${JSON.stringify({ healthy, ...report }, null, 2)}\n`);
      } else if (healthy) {
        process.stdout.write(`${report.store}: healthy (${report.runs} run(s), ${report.tasks} task record(s), ${report.events} event(s) checked)\n`);
      } else {
        for (const finding of report.findings) process.stdout.write(`${finding.message}\n`);
      }
      if (!healthy) {
        throw new CrewstateError("CORRUPT_STATE", `doctor found ${report.findings.length} problem(s) in ${report.store}`, { store: report.store });
      }
    });
}
