/**
 * The dashboard's server without a browser: the token, Host and Origin checks (each refusal
 * changing nothing in the store), the security headers, the JSON API over crews and flows, the
 * change stream, and the CLI's `ui` command with its bad inputs.
 */
import { request } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { Agent, Crew, Flow, Task, runFlow } from "../../src/index.js";
import { openStore } from "../../src/stores/open.js";
import type { Store } from "../../src/stores/store.js";
import { startUi, type RunningUi } from "../../src/ui/server.js";
import { assertBuilt, CliProcess, runCli } from "../support/cli.js";
import { freshName, postgresService, withParam } from "../services.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "crewstate-ui-"));
const url = `sqlite:${path.join(dir, "state.db")}`;
let store: Store;
let ui: RunningUi;

function reviewCrew() {
  const agent = new Agent({ role: "Clerk", goal: "Triage", backstory: "Exact.", model: "demo" });
  const analyze = new Task({ name: "analyze_task", description: "Analyze {notes}", expectedOutput: "facts", agent });
  const draft = new Task({ name: "draft_task", description: "Draft a note", expectedOutput: "a note", agent, humanReview: true });
  return new Crew({ name: "reviewed", tasks: [analyze, draft] });
}

beforeAll(async () => {
  assertBuilt();
  store = await openStore(url);
  await reviewCrew().kickoff({ runId: "paused-1", store, inputs: { notes: "PN-1" } });
  const flow = new Flow({ name: "tiny", state: z.object({ n: z.number().default(0) }) });
  flow.start("one", (s) => (s.n += 1));
  await runFlow(flow, { runId: "flow-1", store });
  ui = await startUi({ store, port: 0 });
}, 60_000);

afterAll(async () => {
  await ui?.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A raw HTTP request, so the Host and Origin headers are exactly what the test says. */
function send(pathname: string, options: { method?: string; host?: string; cookie?: string; origin?: string; body?: string } = {}) {
  const { port } = new URL(ui.origin);
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: Number(port),
        path: pathname,
        method: options.method ?? "GET",
        headers: {
          host: options.host ?? `127.0.0.1:${port}`,
          ...(options.cookie ? { cookie: options.cookie } : {}),
          ...(options.origin ? { origin: options.origin } : {}),
          ...(options.body !== undefined ? { "content-type": "application/json" } : {}),
        },
      },
      (res) => {
        let body = "";
        res.on("data", (chunk: Buffer) => (body += chunk.toString()));
        res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      },
    );
    req.on("error", reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

const cookie = () => `crewstate_ui=${ui.token}`;

describe("requests the dashboard refuses, changing nothing", () => {
  it("no token: 401, for the page and the API", async () => {
    expect((await send("/")).status).toBe(401);
    expect((await send("/api/runs")).status).toBe(401);
    expect((await send("/api/runs", { cookie: "crewstate_ui=wrong" })).status).toBe(401);
  });

  it("the token in the URL sets an HttpOnly SameSite=Strict cookie and redirects to a URL without it", async () => {
    const answer = await send(`/?token=${ui.token}`);
    expect(answer.status).toBe(303);
    expect(answer.headers.location).toBe("/");
    expect(String(answer.headers["set-cookie"])).toMatch(/crewstate_ui=[^;]+; Path=\/; HttpOnly; SameSite=Strict/);
    expect((await send("/", { cookie: cookie() })).status).toBe(200);
  });

  it("a Host other than the bound address: 403, even with the token (DNS rebinding)", async () => {
    const answer = await send("/api/runs", { cookie: cookie(), host: "evil.example:80" });
    expect(answer.status).toBe(403);
  });

  it("a cross-origin POST: 403, and the task is still there", async () => {
    const before = await store.events("paused-1");
    for (const origin of ["http://evil.example", undefined]) {
      const answer = await send("/api/runs/paused-1/tasks/analyze_task/invalidate", { method: "POST", cookie: cookie(), origin, body: "{}" });
      expect(answer.status).toBe(403);
    }
    expect((await store.getRun("paused-1"))!.tasks.map((t) => t.name)).toContain("analyze_task");
    expect(await store.events("paused-1")).toEqual(before);
  });

  it("every response carries the CSP and no inline script", async () => {
    const page = await send("/", { cookie: cookie() });
    expect(page.headers["content-security-policy"]).toContain("script-src 'self'");
    expect(page.headers["content-security-policy"]).not.toContain("unsafe-inline");
    expect(page.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect((await send("/api/runs")).headers["content-security-policy"]).toContain("default-src 'none'");
  });
});

describe("the API", () => {
  const get = async (pathname: string) => {
    const answer = await send(pathname, { cookie: cookie() });
    expect(answer.status, answer.body).toBe(200);
    return JSON.parse(answer.body);
  };

  it("lists runs newest first with progress, filters by status and searches by run ID", async () => {
    const all = await get("/api/runs");
    expect(all.runs.map((r: { runId: string }) => r.runId)).toEqual(["flow-1", "paused-1"]);
    expect(all.runs[1]).toMatchObject({ status: "paused", done: 2, total: 2, kind: "crew" });
    expect((await get("/api/runs?status=paused")).runs.map((r: { runId: string }) => r.runId)).toEqual(["paused-1"]);
    expect((await get("/api/runs?q=flow")).total).toBe(1);
    expect((await send("/api/runs?status=bogus", { cookie: cookie() })).status).toBe(400);
  });

  it("a run: its tasks with outcome and reason, a task's journal with its messages", async () => {
    const run = await get("/api/runs/paused-1");
    expect(run.tasks.map((t: { name: string; outcome: string; reason: string }) => `${t.name}:${t.outcome}:${t.reason}`)).toEqual([
      "analyze_task:ran:run: new",
      "draft_task:paused:awaiting approval",
    ]);
    const task = await get("/api/runs/paused-1/tasks/analyze_task");
    expect(task.calls).toHaveLength(1);
    expect(task.calls[0]).toMatchObject({ kind: "model", replayed: false });
    expect(JSON.stringify(task.calls[0].messages)).toContain("Analyze PN-1");
    expect(typeof task.calls[0].durationMs).toBe("number");
    expect((await send("/api/runs/nope", { cookie: cookie() })).status).toBe(404);
  });

  it("approve from the API releases the paused run, through the CLI's own operation", async () => {
    const answer = await send("/api/runs/paused-1/tasks/draft_task/approve", { method: "POST", cookie: cookie(), origin: ui.origin, body: "{}" });
    expect(answer.status, answer.body).toBe(200);
    expect(JSON.parse(answer.body).event).toMatchObject({ type: "task_approved", task: "draft_task" });
    const resumed = await reviewCrew().kickoff({ runId: "paused-1", store, inputs: { notes: "PN-1" } });
    expect(resumed.status).toBe("completed");
  });

  it("the change stream tells of a commit made after the page subscribed", async () => {
    const { port } = new URL(ui.origin);
    const said = await new Promise<string>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port: Number(port), path: "/api/stream?run=flow-1", headers: { host: `127.0.0.1:${port}`, cookie: cookie() } }, (res) => {
        let text = "";
        res.on("data", (chunk: Buffer) => {
          text += chunk.toString();
          if (text.includes("event: change")) {
            req.destroy();
            resolve(text);
          }
        });
      });
      req.on("error", (error) => (error.message.includes("aborted") ? undefined : reject(error)));
      req.end();
      setTimeout(() => void store.setRunStatus("flow-1", "completed", null, { type: "run_completed" }), 800);
    });
    expect(said).toMatch(/event: change\ndata: \{"runId":"flow-1"/);
  }, 20_000);
});

const pg = await postgresService();

describe("the store's password", () => {
  it.skipIf(!pg.available)("never reaches the page (a PostgreSQL URL with a password)", async () => {
    const secret = "s3cr3t-pw";
    const withPassword = withParam(pg.url.replace("postgres://postgres@", `postgres://postgres:${secret}@`), "schema", freshName("ui"));
    const other = await startUi({ store: withPassword, port: 0 });
    try {
      const answer = await fetch(`${other.origin}/api/info`, { headers: { authorization: `Bearer ${other.token}` } });
      const body = await answer.text();
      expect(answer.status, body).toBe(200);
      expect(body).not.toContain(secret);
      expect(JSON.parse(body).store).toContain("postgres://postgres:***@");
    } finally {
      await other.close();
    }
  }, 30_000);
});

describe("crewstate ui", () => {
  it("prints its URL with a fresh token first, and serves it", async () => {
    const cli = new CliProcess(["ui", "--store", url, "--port", "0"]);
    try {
      await cli.waitForStdout(/crewstate ui: (\S+)\n/);
      const match = /^crewstate ui: http:\/\/127\.0\.0\.1:(\d+)\/\?token=([A-Za-z0-9_-]{20,})\n/.exec(cli.stdout);
      expect(match, cli.stdout).not.toBeNull();
      expect(match![2]).not.toBe(ui.token);
    } finally {
      cli.kill("SIGTERM");
    }
  }, 30_000);

  it("a port in use: one line naming it, non-zero exit", async () => {
    const { port } = new URL(ui.origin);
    const result = await runCli(["ui", "--store", url, "--port", port]);
    expect(result.code).not.toBe(0);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toContain(`port ${port} on 127.0.0.1 is already in use`);
  }, 30_000);

  it("a store that cannot be opened: the CLI's usual error", async () => {
    const result = await runCli(["ui", "--store", `sqlite:${path.join(dir, "missing.db")}`]);
    expect(result.code).not.toBe(0);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toMatch(/missing\.db/);
    const bad = await runCli(["ui", "--port", "http"]);
    expect(bad.stderr).toContain('--port must be a whole number from 0 to 65535, got "http"');
  }, 30_000);
});
