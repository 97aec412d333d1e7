/**
 * `crewstate/testing` as a store author gets it: `npm pack`'s tarball installed into an empty
 * project, whose own test files run `describeStoreConformance` under vitest. A store that wraps
 * the memory store passes; the same wrapper with its fencing check skipped fails (the negative
 * control: the suite, as shipped, can tell).
 *
 * Installs come from the local npm cache first (`--prefer-offline`), as in pack.test.ts. vitest, an
 * optional peer dependency, is linked from this repo's node_modules, as the author's own would be.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { npm, packInto } from "../support/pack.js";
import { assertBuilt, cliEnv, REPO_ROOT, testWorkspace } from "../support/cli.js";

/** A store that hands every call to the memory store; `skipFencing` drops the token of every task commit. */
const WRAPPED = `import { MemoryStore, type Store } from "crewstate";

export function wrappedMemory(options: { skipFencing?: boolean } = {}): Store {
  const inner: Store = new MemoryStore();
  return {
    location: "wrapped:" + inner.location,
    beginRun: (init) => inner.beginRun(init),
    getRun: (runId) => inner.getRun(runId),
    listRuns: () => inner.listRuns(),
    saveTask: (runId, task, event, commit = {}) => {
      const { fencingToken: _skipped, ...unfenced } = commit;
      return inner.saveTask(runId, task, event, options.skipFencing ? unfenced : commit);
    },
    reuseTasks: (runId, tasks, event, options) => inner.reuseTasks(runId, tasks, event, options),
    setRunStatus: (runId, status, error, event) => inner.setRunStatus(runId, status, error, event),
    removeTask: (runId, task, event) => inner.removeTask(runId, task, event),
    events: (runId) => inner.events(runId),
    recordCall: (runId, call, fence) => inner.recordCall(runId, call, fence),
    calls: (runId, task) => inner.calls(runId, task),
    clearCalls: (runId, task) => inner.clearCalls(runId, task),
    claimTask: (runId, task, worker, ttlMs, claim) => inner.claimTask(runId, task, worker, ttlMs, claim),
    heartbeat: (lease, ttlMs) => inner.heartbeat(lease, ttlMs),
    releaseTask: (lease) => inner.releaseTask(lease),
    importRun: (dump, how) => inner.importRun(dump, how),
    exportRun: (runId) => inner.exportRun(runId),
    deleteRun: (runId) => inner.deleteRun(runId),
    dropJournals: (runId) => inner.dropJournals(runId),
    close: () => inner.close(),
  };
}
`;

const PASSING = `import { describeStoreConformance } from "crewstate/testing";
import { wrappedMemory } from "./wrapped.js";

// A wrapper is not built on BaseStore, whose checked layer seals values at rest.
describeStoreConformance("wrapped memory", { open: async () => wrappedMemory(), encryption: false });
`;

const UNFENCED = `import { describeStoreConformance } from "crewstate/testing";
import { wrappedMemory } from "./wrapped.js";

describeStoreConformance("unfenced", { open: async () => wrappedMemory({ skipFencing: true }), only: ["fencing"] });
`;

/** The author's project checks its types against the package's declarations (the `types` of `exports["./testing"]`). */
const TSCONFIG = {
  compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, noEmit: true, skipLibCheck: true, types: [] },
  include: ["*.ts"],
};

interface JsonReport {
  testResults: Array<{ name: string; assertionResults: Array<{ fullName: string; title: string; status: string; failureMessages: string[] }> }>;
}

describe("crewstate/testing from the packed package", () => {
  it("type-checks, passes a store that wraps the memory store, and fails one that skips the fencing check", (context) => {
    assertBuilt();
    if (!existsSync(path.join(REPO_ROOT, "dist", "testing", "index.js"))) throw new Error("dist/testing is missing: run `npm run build`");
    const ws = testWorkspace(context);
    const tarball = packInto(ws);

    const project = ws.path("project");
    mkdirSync(project);
    writeFileSync(path.join(project, "package.json"), `${JSON.stringify({ name: "my-store", private: true, type: "module" })}\n`);
    npm(["install", "--prefer-offline", "--ignore-scripts", tarball], project);
    expect(existsSync(path.join(project, "node_modules", "vitest")), "vitest is an optional peer: npm must not install it").toBe(false);
    symlinkSync(path.join(REPO_ROOT, "node_modules", "vitest"), path.join(project, "node_modules", "vitest"), "dir");

    writeFileSync(path.join(project, "wrapped.ts"), WRAPPED);
    writeFileSync(path.join(project, "wrapped.test.ts"), PASSING);
    writeFileSync(path.join(project, "unfenced.test.ts"), UNFENCED);
    writeFileSync(path.join(project, "tsconfig.json"), `${JSON.stringify(TSCONFIG)}\n`);
    const tsc = spawnSync(process.execPath, [path.join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "."], { cwd: project, env: cliEnv(), encoding: "utf8", timeout: 60_000 });
    expect(tsc.status, tsc.stdout).toBe(0);

    const vitest = spawnSync(process.execPath, [path.join("node_modules", "vitest", "vitest.mjs"), "run", "--reporter=json", "--outputFile=report.json"], {
      cwd: project,
      env: cliEnv(),
      encoding: "utf8",
      timeout: 120_000,
    });
    expect(vitest.status, `vitest must fail (the negative control):\n${vitest.stderr}`).toBe(1);
    const report = JSON.parse(readFileSync(path.join(project, "report.json"), "utf8")) as JsonReport;
    const results = (file: string) => report.testResults.find((r) => path.basename(r.name) === file)?.assertionResults ?? [];

    const passing = results("wrapped.test.ts");
    expect(passing.filter((t) => t.status === "failed").map((t) => `${t.fullName}: ${t.failureMessages[0]}`)).toEqual([]);
    expect(passing.filter((t) => t.status === "passed").length).toBeGreaterThanOrEqual(100);
    expect(passing.map((t) => t.fullName)).toContain("wrapped memory store conformance fencing refuses a commit whose token differs from the stored one with FENCED_OUT, changing nothing");

    const unfenced = results("unfenced.test.ts");
    expect(unfenced.length).toBeGreaterThan(0);
    expect(unfenced.every((t) => t.fullName.startsWith("unfenced store conformance fencing"))).toBe(true);
    const failed = unfenced.filter((t) => t.status === "failed");
    expect(failed.map((t) => t.title)).toContain("refuses a commit whose token differs from the stored one with FENCED_OUT, changing nothing");
    expect(failed[0]!.failureMessages.join("\n")).toMatch(/expected a CrewstateError with code FENCED_OUT, but the call succeeded/);
  }, 180_000);
});
