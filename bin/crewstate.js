#!/usr/bin/env node
import { existsSync } from "node:fs";

const entry = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write("crewstate: the package is not built (dist/ is missing); run `npm run build` in the crewstate folder\n");
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv);
// Never leave before stdout and stderr have drained into a slow pipe: an empty write calls back
// once everything queued before it is out. Only then, if a driver keeps a socket open, leave anyway.
await Promise.all([process.stdout, process.stderr].map((stream) => new Promise((resolve) => stream.write("", resolve))));
setTimeout(() => process.exit(), 50).unref();
