/**
 * Lease tests that need several processes on one local file, shared by the SQLite and JSON file
 * stores: claimers race for the same tasks, and a claim from another process waits out a lease
 * its holder keeps renewing.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it, onTestFinished } from "vitest";
import { isCrewstateError } from "../../../src/errors.js";
import { newTaskRecord, type Lease, type Store } from "../../../src/stores/store.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "../../..");

interface ClaimAttempt {
  task: string;
  before: number;
  after: number;
  lease: Lease | null;
}

export interface LocalLeaseContext {
  kind: "sqlite" | "json";
  /** A new, empty state file's path. */
  newFile(): string;
  open(file: string): Promise<Store>;
  /** How many claimers race, for how many tasks besides the one they all want. */
  race: { workers: number; tasks: number };
}

/** A `local/claimer.ts` process; see there for the config. */
function claimer(config: { kind: LocalLeaseContext["kind"]; file: string; runId: string; worker: string; ttlMs: number; tasks: string[]; untilGrantedMs?: number }) {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(here, "claimer.ts"), JSON.stringify(config)], { cwd: repoRoot, stdio: ["pipe", "pipe", "pipe"] });
  onTestFinished(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  let stdout = "";
  let stderr = "";
  let onReady!: () => void;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
    if (stdout.includes("ready\n")) onReady();
  });
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const attempts = new Promise<ClaimAttempt[]>((resolve, reject) =>
    child.on("close", (code) => {
      const line = stdout.split("\n").find((l) => l.startsWith("result "));
      if (code !== 0 || !line) reject(new Error(`claimer ${config.worker} exited with ${code}: ${stdout} ${stderr}`));
      else resolve((JSON.parse(line.slice("result ".length)) as { attempts: ClaimAttempt[] }).attempts);
    }),
  );
  return {
    ready: Promise.race([ready, attempts.then(() => Promise.reject(new Error(`claimer ${config.worker} ended before it was ready`)))]),
    go: () => child.stdin.write("go\n"),
    attempts,
  };
}

async function expectFencedOut(action: () => Promise<unknown>): Promise<void> {
  const error = await action().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isCrewstateError(error, "FENCED_OUT"), String(error)).toBe(true);
}

/** Registers the shared tests inside a store's own describe block. */
export function localLeaseTests(ctx: LocalLeaseContext): void {
  const { workers: WORKERS, tasks: count } = ctx.race;
  it(`${WORKERS} processes racing to claim one task, then the same ${count}: each task is granted exactly once, with token 1`, async () => {
    const TASKS = Array.from({ length: count }, (_, i) => `t${i}`);
    const step = Math.floor(count / WORKERS);
    const file = ctx.newFile();
    const setup = await ctx.open(file);
    await setup.beginRun({ runId: "race", crew: "c", inputs: {} });
    await setup.close();

    // All claim "hot" first, then walk the other tasks each from another starting point.
    const children = Array.from({ length: WORKERS }, (_, w) =>
      claimer({ kind: ctx.kind, file, runId: "race", worker: `worker-${w}`, ttlMs: 60_000, tasks: ["hot", ...TASKS.slice(w * step), ...TASKS.slice(0, w * step)] }),
    );
    await Promise.all(children.map((c) => c.ready));
    for (const c of children) c.go();
    const results = await Promise.all(children.map((c) => c.attempts));

    const granted = results.flat().filter((a) => a.lease !== null);
    expect(results.flat()).toHaveLength(WORKERS * (TASKS.length + 1));
    expect(granted.map((a) => a.task).sort()).toEqual(["hot", ...TASKS].sort());
    // The claims of "hot" really were simultaneous: each overlapped another process's in time.
    const hot = results.map((r) => r[0]!);
    for (const claim of hot) expect(hot.some((other) => other !== claim && other.before <= claim.after && claim.before <= other.after)).toBe(true);
    for (const { lease } of granted) expect(lease!.token).toBe(1);

    const store = await ctx.open(file);
    try {
      const run = (await store.getRun("race"))!;
      expect(run.tasks).toHaveLength(TASKS.length + 1);
      for (const { task, lease } of granted) {
        expect(run.tasks.find((t) => t.name === task)).toEqual({ ...newTaskRecord(task), worker: lease!.worker, fencingToken: 1, leaseExpiresAt: lease!.expiresAt });
      }
      expect((await store.events("race")).map((e) => e.type)).toEqual(["run_started"]);
    } finally {
      await store.close();
    }
  }, 60_000);

  it("refuses another process's claim until the lease runs out (heartbeats count), then grants it the next token", async () => {
    const file = ctx.newFile();
    const store = await ctx.open(file);
    onTestFinished(() => store.close());
    await store.beginRun({ runId: "r", crew: "c", inputs: {} });
    const child = claimer({ kind: ctx.kind, file, runId: "r", worker: "worker-b", ttlMs: 30_000, tasks: ["work"], untilGrantedMs: 20_000 });
    await child.ready;

    const first = (await store.claimTask("r", "work", "worker-a", 1_500))!;
    child.go();
    await new Promise((resolve) => setTimeout(resolve, 700));
    const renewed = await store.heartbeat(first, 1_500);
    expect(renewed.expiresAt > first.expiresAt).toBe(true);
    const attempts = await child.attempts;

    const expiry = Date.parse(renewed.expiresAt);
    const refused = attempts.slice(0, -1);
    const last = attempts.at(-1)!;
    expect(refused.length).toBeGreaterThan(5);
    for (const attempt of refused) {
      expect(attempt.lease).toBeNull();
      expect(attempt.before).toBeLessThan(expiry);
    }
    expect(last.lease).toMatchObject({ runId: "r", task: "work", worker: "worker-b", token: 2 });
    expect(last.after).toBeGreaterThanOrEqual(expiry);

    // The first holder is fenced out: no renewal, no commit; its release changes nothing.
    await expectFencedOut(() => store.heartbeat(renewed, 1_500));
    await expectFencedOut(() => store.saveTask("r", { ...newTaskRecord("work"), status: "completed" }, { type: "task_completed" }, { fencingToken: 1 }));
    await store.releaseTask(renewed);
    expect((await store.getRun("r"))!.tasks[0]).toMatchObject({ worker: "worker-b", fencingToken: 2, leaseExpiresAt: last.lease!.expiresAt });
  }, 30_000);
}
