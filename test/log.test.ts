/** Logging from code: silent unless asked, and one `task` key per line. */
import type { LanguageModelV3GenerateResult } from "@ai-sdk/provider";
import { MockLanguageModelV3 } from "ai/test";
import { spawnSync } from "node:child_process";
import { Writable } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { Agent, Crew, MemoryStore, Task } from "../src/index.js";
import { REPO_ROOT, cliEnv } from "./support/cli.js";

const usage = { inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 1, text: 1, reasoning: 0 } };
const text = (t: string): LanguageModelV3GenerateResult => ({ content: [{ type: "text", text: t }], finishReason: { unified: "stop", raw: "stop" }, usage, warnings: [] });

describe("logging from code", () => {
  it("writes nothing to stderr from a kickoff given no logger, even when a task fails", () => {
    // A task that fails with retries logs warnings: with the default logger they must stay silent.
    const script = `
      import { Agent, Crew, MemoryStore, Task } from "./src/index.ts";
      const model = { specificationVersion: "v3", provider: "t", modelId: "m", supportedUrls: {},
        doGenerate: async () => { throw new Error("boom"); }, doStream: async () => { throw new Error("boom"); } };
      const agent = new Agent({ role: "R", goal: "G", backstory: "B", model });
      const crew = new Crew({ name: "quiet", tasks: [new Task({ name: "work", description: "d", expectedOutput: "e", agent, retries: 1 })], store: new MemoryStore() });
      await crew.kickoff({ runId: "q" }).catch(() => undefined);
      console.log("done");
    `;
    const child = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: REPO_ROOT, env: cliEnv(), encoding: "utf8" });
    expect(child.stdout).toBe("done\n");
    expect(child.stderr).toBe("");
  }, 60_000);

  it("names the task once per line when two kickoffs share a run (lease lines)", async () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(...chunk.toString().split("\n").filter(Boolean)), done()) });
    const logger = pino({ level: "info" }, sink);
    const store = new MemoryStore();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const model = new MockLanguageModelV3({ doGenerate: async () => (await gate, text("done")) });
    const agent = new Agent({ role: "R", goal: "G", backstory: "B", model });
    const crew = new Crew({ name: "shared", tasks: [new Task({ name: "work", description: "d", expectedOutput: "e", agent })], store });
    const first = crew.kickoff({ runId: "s", logger, leaseTtlMs: 2000 });
    while (!lines.some((l) => l.includes("task started"))) await new Promise((r) => setTimeout(r, 5));
    const second = crew.kickoff({ runId: "s", logger, leaseTtlMs: 2000 });
    while (!lines.some((l) => l.includes("held by another worker"))) await new Promise((r) => setTimeout(r, 5));
    release();
    // Either may end either way (the second may find the task held still); only the lines matter.
    await Promise.allSettled([first, second]);
    for (const line of lines) expect(line.match(/"task":/g)?.length ?? 0, line).toBeLessThanOrEqual(1);
  }, 60_000);
});
