/**
 * The zombie writer (RELIABILITY B2): worker A claims a task and is SIGSTOPped past its lease;
 * worker B claims it and commits; A is SIGCONTed. A's heartbeat and commit must be refused, and
 * the stored result must be B's — 20 times, on every store that can be shared.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { Agent, Crew, Task } from "../../src/index.js";
import { openStore } from "../../src/stores/open.js";
import { freshName, postgresService, redisService, withParam } from "../services.js";
import { slowModel } from "./fixtures/zombie-crew.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const child = fileURLToPath(new URL("./fixtures/zombie-child.ts", import.meta.url));
const pg = await postgresService();
const redis = await redisService();
const scratch = () => mkdtempSync(path.join(os.tmpdir(), "crewstate-zombie-"));

const backends = [
  { name: "postgres", available: pg.available, url: () => withParam(pg.url, "schema", freshName("zombie")), dir: null },
  { name: "redis", available: redis.available, url: () => withParam(redis.url, "prefix", `${freshName("zombie")}:`), dir: null },
  { name: "sqlite", available: true, url: () => `sqlite:${path.join(scratch(), "state.db")}`, dir: null },
  { name: "json", available: true, url: () => `json:${path.join(scratch(), "state.json")}`, dir: null },
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(backends)("a zombie writer on $name", ({ available, url: freshUrl }) => {
  it.skipIf(!available)(
    "is fenced out 20 times out of 20: its heartbeat and commit are refused and the stored result is the new holder's",
    async () => {
      const url = freshUrl();
      const a = spawn(process.execPath, ["--import", "tsx", child], { cwd: root, env: { ...process.env, CREWSTATE_LOG_LEVEL: "silent" }, stdio: ["pipe", "pipe", "inherit"] });
      const said: string[] = [];
      const waiters: Array<() => void> = [];
      createInterface({ input: a.stdout! }).on("line", (line) => {
        said.push(line);
        for (const wake of waiters.splice(0)) wake();
      });
      const heard = async (line: string) => {
        const deadline = Date.now() + 30_000;
        while (!said.includes(line)) {
          if (Date.now() > deadline) throw new Error(`worker A never said "${line}" (it said: ${said.join(" | ")})`);
          await new Promise<void>((wake) => {
            waiters.push(wake);
            setTimeout(wake, 200);
          });
        }
      };
      const store = await openStore(url);
      try {
        for (let i = 0; i < 20; i++) {
          const runId = `zombie-${i}`;
          await store.beginRun({ runId, crew: "zombie", inputs: {} });
          a.stdin!.write(`run ${url} ${runId}\n`);
          await heard(`started ${runId}`);
          a.kill("SIGSTOP");
          await sleep(600);

          const agent = new Agent({ role: "R", goal: "G", backstory: "B", model: slowModel(() => {}, 0, "B") });
          const crewB = new Crew({ name: "zombie", tasks: [new Task({ name: "work", description: "do the work", expectedOutput: "e", agent })], store });
          const b = await crewB.kickoff({ runId, leaseTtlMs: 5_000, worker: `zombie-b:${runId}` });
          expect(b.output).toBe("answer from B");

          a.kill("SIGCONT");
          await heard(`FENCED_OUT ${runId}`);
          const run = (await store.getRun(runId))!;
          expect(run.tasks[0]).toMatchObject({ status: "completed", output: "answer from B", worker: `zombie-b:${runId}`, fencingToken: 2 });
          const completions = (await store.events(runId)).filter((e) => e.type === "task_completed");
          expect(completions).toHaveLength(1);
          // The journal is B's too: A's answer, arriving after it lost the task, was never stored.
          expect(JSON.stringify(await store.calls(runId, "work"))).toContain("answer from B");
          expect(JSON.stringify(await store.calls(runId, "work"))).not.toContain("answer from A");
        }
      } finally {
        a.kill("SIGKILL");
        await store.close();
        if (url.startsWith("sqlite:") || url.startsWith("json:")) rmSync(path.dirname(url.slice(url.indexOf(":") + 1)), { recursive: true, force: true });
      }
    },
    180_000,
  );
});
