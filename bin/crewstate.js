#!/usr/bin/env node
import { existsSync } from "node:fs";

const entry = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write("crewstate: the package is not built (dist/ is missing); run `npm run build` in the crewstate folder\n");
  process.exit(1);
}
const { main } = await import(entry.href);
const code = await main(process.argv);
// Let pending output drain, then leave even if a driver keeps a socket open.
process.exitCode = code;
setTimeout(() => process.exit(code), 50).unref();
