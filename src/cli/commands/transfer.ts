import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { CrewstateError, messageOf, quote } from "../../errors.js";
import { redactUrl } from "../../redact.js";
import { openStore } from "../../stores/open.js";
import { decodeDumps, encodeDump, exportRuns, importRuns } from "../../stores/transfer.js";
import { withStore } from "../with-store.js";

export function registerTransfer(program: Command): void {
  program
    .command("export")
    .description("write runs as JSON Lines to stdout (one run per line)")
    .argument("[run-id...]", "the runs to export (default with --all: every run)")
    .option("--all", "export every run in the store")
    .option("--store <url>", "where state lives")
    .option("--decrypt", "write values sealed at rest opened (needs CREWSTATE_ENCRYPTION_KEY); default: as stored")
    .action(async (runIds: string[], options: { all?: boolean; store?: string; decrypt?: boolean }) => {
      if (runIds.length === 0 && !options.all) {
        throw new CrewstateError("INVALID_INPUT", "export needs run IDs or --all");
      }
      await withStore(options.store, async (store) => {
        for (const dump of await exportRuns(store, runIds, { sealed: options.decrypt !== true })) process.stdout.write(`${encodeDump(dump)}\n`);
      }, { readOnly: true });
    });

  program
    .command("import")
    .description("read runs written by `crewstate export` into a store")
    .argument("<file>", "a .jsonl export, or - for stdin")
    .option("--store <url>", "where state lives")
    .option("--overwrite", "replace runs that already exist")
    .action(async (file: string, options: { store?: string; overwrite?: boolean }) => {
      let text: string;
      try {
        text = readFileSync(file === "-" ? 0 : file, "utf8");
      } catch (error) {
        throw new CrewstateError("INVALID_INPUT", `export file ${quote(file)} cannot be read: ${messageOf(error)}`, { path: file });
      }
      const dumps = decodeDumps(text, file === "-" ? "stdin" : quote(file));
      await withStore(
        options.store,
        async (store) => {
          await importRuns(store, dumps, { overwrite: options.overwrite });
          process.stdout.write(`imported ${dumps.length} run(s) into ${store.location}\n`);
        },
        { writes: true },
      );
    });

  program
    .command("migrate")
    .description("copy runs from one store to another, losslessly")
    .requiredOption("--from <url>", "the store to copy from")
    .requiredOption("--to <url>", "the store to copy into")
    .option("--overwrite", "replace runs that already exist in the target")
    .argument("[run-id...]", "the runs to copy (default: all)")
    .action(async (runIds: string[], options: { from: string; to: string; overwrite?: boolean }) => {
      // Sealed values move as they are: the target needs the same keys to read them.
      const dumps = await withStore(options.from, (from) => exportRuns(from, runIds, { sealed: true }), { readOnly: true });
      const target = await openStore(options.to);
      try {
        await importRuns(target, dumps, { overwrite: options.overwrite });
        process.stdout.write(`copied ${dumps.length} run(s) from ${redactUrl(options.from)} to ${target.location}\n`);
      } finally {
        await target.close();
      }
    });
}
