/**
 * Parallel, conditional and file-writing tasks through the real binary, counted at the fake
 * OpenAI-compatible server: a SIGKILL in the middle of a parallel phase keeps the siblings that
 * committed and resumes the rest; an output file lost to a crash between the commit and the write
 * comes back on the next run without a model call.
 */
import { existsSync, readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { assertBuilt, runCliUntil, testWorkspace, type CliResult } from "../support/cli.js";
import { FakeOpenAI } from "../support/fake-openai.js";
import { MODEL } from "./crews.js";

const TIMEOUT = 90_000;
beforeAll(() => assertBuilt());

const PARALLEL = `import { Agent, ConditionalTask, Crew, Task } from "crewstate";

const agent = new Agent({ role: "Researcher", goal: "Find facts", backstory: "Quick." });
const plan = new Task({ name: "plan", description: "PLAN the research on {topic}", expectedOutput: "a plan", agent });
const branches = ["A", "B", "C"].map(
  (x) => new Task({ name: \`research_\${x.toLowerCase()}\`, description: \`RESEARCH-\${x} about {topic}\`, expectedOutput: "facts", agent, asyncExecution: true }),
);
const join = new Task({ name: "join", description: "JOIN the findings", expectedOutput: "a summary", agent, outputFile: "out/{topic}.md" });
const escalate = new ConditionalTask({
  name: "escalate",
  description: "ESCALATE the summary",
  expectedOutput: "a memo",
  agent,
  condition: (previous) => previous.raw.includes("never-in-a-hash-answer"),
});
export default new Crew({ name: "cli-parallel", agents: [agent], tasks: [plan, ...branches, join, escalate] });
`;

function expectOk(result: CliResult): void {
  expect(result.code, `exit code; stderr:\n${result.stderr}\nstdout:\n${result.stdout}`).toBe(0);
}

interface ShowJson {
  tasks: { name: string; status: string; output: string | null }[];
}

describe("parallel tasks through the CLI", () => {
  it(
    "a SIGKILL during the parallel phase keeps the committed siblings; the resume runs only the rest, and only calls that never answered",
    async (context) => {
      const ws = testWorkspace(context);
      ws.write("crew.js", PARALLEL);
      const server = await FakeOpenAI.forTest(context);
      // C's model never answers: the run is killed while A and B have committed and C waits.
      server.when("RESEARCH-C", { delayMs: "forever" });
      const args = ["run", "crew.js", "--run-id", "p1", "--input", "topic=claims", ...MODEL];
      const killed = await runCliUntil(args, {
        cwd: ws.dir,
        env: server.env(),
        killWhen: /research_a: done[\s\S]*research_b: done|research_b: done[\s\S]*research_a: done/,
        beforeKill: () => server.waitFor("RESEARCH-C"),
      });
      expect(killed.signal).toBe("SIGKILL");
      // The three branches started together, each on its own line.
      for (const name of ["research_a", "research_b", "research_c"]) expect(killed.stdout).toMatch(new RegExp(`\\] ${name}: running`));
      expect(server.count("RESEARCH-A")).toBe(1);
      expect(server.count("JOIN")).toBe(0);

      server.reset();
      const resumed = await ws.run([...args, "--json"], { env: server.env() });
      expectOk(resumed);
      const result = JSON.parse(resumed.stdout) as { tasks: { name: string; outcome: string }[] };
      expect(result.tasks.map((t) => `${t.name}:${t.outcome}`)).toEqual([
        "plan:reused",
        "research_a:reused",
        "research_b:reused",
        "research_c:ran",
        "join:ran",
        "escalate:skipped",
      ]);
      // Calls on resume: C (its first call never answered), the join; no escalation.
      expect([...server.countsByPrompt().values()].reduce((a, b) => a + b, 0)).toBe(2);
      expect(server.count("RESEARCH-C")).toBe(1);
      expect(server.count("ESCALATE")).toBe(0);

      const show = await ws.run(["show", "p1", "--json"]);
      expectOk(show);
      const shown = JSON.parse(show.stdout) as ShowJson;
      expect(shown.tasks.find((t) => t.name === "escalate")?.status).toBe("skipped");
      expect(readFileSync(ws.path("out", "claims.md"), "utf8")).toBe(shown.tasks.find((t) => t.name === "join")!.output);
    },
    TIMEOUT,
  );

  it(
    "an output file lost to a crash between the commit and the write is written by the next run, with no model call",
    async (context) => {
      const ws = testWorkspace(context);
      ws.write("crew.js", PARALLEL);
      const server = await FakeOpenAI.forTest(context);
      const args = ["run", "crew.js", "--run-id", "f1", "--input", "topic=files", ...MODEL];
      // plan, three branches, then join: the fifth commit is the join's, just before its file is written.
      const killed = await ws.run(args, { env: { ...server.env(), CREWSTATE_CRASH_AT: "committed:5" } });
      expect(killed.signal).toBe("SIGKILL");
      expect(existsSync(ws.path("out", "files.md"))).toBe(false);
      const calls = server.requests.length;

      const resumed = await ws.run(args, { env: server.env() });
      expectOk(resumed);
      expect(resumed.stdout).toMatch(/join: reused/);
      expect(server.requests.length).toBe(calls);
      expect(readFileSync(ws.path("out", "files.md"), "utf8")).toMatch(/^answer-/);
    },
    TIMEOUT,
  );
});
