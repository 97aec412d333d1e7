/**
 * crewstate as a stranger gets it: `npm pack`'s tarball installed with tsx into an empty project,
 * whose .ts crew runs through `npx crewstate run` on the demo model.
 *
 * Installs come from the local npm cache first (`--prefer-offline`), the registry otherwise.
 * Install scripts are skipped, so better-sqlite3's native addon — which a real install builds or
 * downloads — is copied from this repo's own build (same package version) instead of compiled.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { npm, packInto } from "../support/pack.js";
import { assertBuilt, cliEnv, REPO_ROOT, testWorkspace } from "../support/cli.js";

const CREW = `import { Agent, Crew, Task } from "crewstate";

const clerk = new Agent({ role: "Clerk", goal: "File claims", backstory: "You file claims carefully." });
const file = new Task({ name: "file_task", description: "File the claim for policy {policy}.", expectedOutput: "A filing note.", agent: clerk });

export default new Crew({ name: "packed", agents: [clerk], tasks: [file] });
`;

describe("npm pack", () => {
  it("installs with tsx into an empty project and runs a .ts crew with `npx crewstate run`", (context) => {
    assertBuilt();
    const ws = testWorkspace(context);
    const tarball = packInto(ws);

    const project = ws.path("project");
    mkdirSync(project);
    npm(["init", "-y"], project); // as a newcomer starts: npm's defaults, a CommonJS package
    npm(["install", "--prefer-offline", "--ignore-scripts", tarball, "tsx"], project);
    const addon = path.join("node_modules", "better-sqlite3", "build", "Release", "better_sqlite3.node");
    const version = (dir: string) => JSON.parse(readFileSync(path.join(dir, "node_modules", "better-sqlite3", "package.json"), "utf8")).version as string;
    expect(version(project)).toBe(version(REPO_ROOT));
    mkdirSync(path.dirname(path.join(project, addon)), { recursive: true });
    copyFileSync(path.join(REPO_ROOT, addon), path.join(project, addon));

    writeFileSync(path.join(project, "crew.ts"), CREW);
    const out = execFileSync("npx", ["--no-install", "crewstate", "run", "crew.ts", "--run-id", "packed-1", "--input", "policy=HO-1", "--model", "demo"], {
      cwd: project,
      env: cliEnv(),
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(out).toMatch(/\[1\/1\] file_task: done/);
    expect(out).toMatch(/run packed-1 completed/);
    expect(existsSync(path.join(project, ".crewstate", "state.db"))).toBe(true);
    const shown = execFileSync("npx", ["--no-install", "crewstate", "output", "packed-1", "file_task"], { cwd: project, env: cliEnv(), encoding: "utf8" });
    expect(shown).toMatch(/demo model/);
  }, 300_000);
});
