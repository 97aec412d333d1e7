/** Packing this package as npm would publish it, for tests that install it into an empty project. */
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync } from "node:fs";
import path from "node:path";
import { cliEnv, REPO_ROOT, type Workspace } from "./cli.js";

/** Runs npm quietly in `cwd`, with the CLI tests' environment. */
export function npm(args: string[], cwd: string): string {
  return execFileSync("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], { cwd, env: cliEnv(), encoding: "utf8", timeout: 240_000 });
}

/** `npm pack` of this repo into the workspace (dist/ must be built: `prepare` is skipped); the tarball's path. */
export function packInto(ws: Workspace): string {
  const packs = ws.path("packs");
  mkdirSync(packs);
  npm(["pack", "--ignore-scripts", "--pack-destination", packs], REPO_ROOT);
  return path.join(packs, readdirSync(packs).find((f) => f.endsWith(".tgz"))!);
}
