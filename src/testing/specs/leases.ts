import { describe, expect } from "vitest";
import { newTaskRecord, type TaskRecord } from "../../stores/store.js";
import { beginSampleRun, completedTask, expectCode, observe, type ConformanceContext, type SpecIt } from "./support.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function leasesSpec(ctx: ConformanceContext, it: SpecIt): void {
  describe("leases", () => {
    it("a claim on a task with no record makes a pending record holding token 1, without an event", async () => {
      await beginSampleRun(ctx.store, "r");
      const before = Date.now();
      const lease = await ctx.store.claimTask("r", "work", "worker-a", 30_000);
      expect(lease).toMatchObject({ runId: "r", task: "work", worker: "worker-a", token: 1 });
      const expires = Date.parse(lease!.expiresAt);
      expect(expires).toBeGreaterThanOrEqual(before + 30_000 - 5_000);
      expect(expires).toBeLessThanOrEqual(Date.now() + 30_000 + 5_000);
      const [task] = (await ctx.store.getRun("r"))!.tasks;
      expect(task).toMatchObject({ name: "work", status: "pending", worker: "worker-a", fencingToken: 1, leaseExpiresAt: lease!.expiresAt, output: null });
      expect((await ctx.store.events("r")).map((e) => e.type)).toEqual(["run_started"]);
    });

    it("refuses a claim while another worker's lease runs, changing nothing", async () => {
      await beginSampleRun(ctx.store, "r");
      await ctx.store.claimTask("r", "work", "worker-a", 30_000);
      const before = await observe(ctx.store, "r");
      expect(await ctx.store.claimTask("r", "work", "worker-b", 30_000)).toBeUndefined();
      expect(await ctx.store.claimTask("r", "work", "worker-b", 30_000, { takeOverFrom: "worker-c" })).toBeUndefined();
      expect(await observe(ctx.store, "r")).toEqual(before);
    });

    it("grants a claim once the lease has run out, with the next token", async () => {
      await beginSampleRun(ctx.store, "r");
      await ctx.store.claimTask("r", "work", "worker-a", 50);
      await sleep(150);
      expect(await ctx.store.claimTask("r", "work", "worker-b", 30_000)).toMatchObject({ worker: "worker-b", token: 2 });
    });

    it("lets a worker take over from a named holder, and re-claim its own task, each with a new token", async () => {
      await beginSampleRun(ctx.store, "r");
      await ctx.store.claimTask("r", "work", "worker-a", 30_000);
      expect(await ctx.store.claimTask("r", "work", "worker-b", 30_000, { takeOverFrom: "worker-a" })).toMatchObject({ worker: "worker-b", token: 2 });
      expect(await ctx.store.claimTask("r", "work", "worker-b", 30_000)).toMatchObject({ worker: "worker-b", token: 3 });
    });

    it("keeps the rest of a task's record when it is claimed", async () => {
      await beginSampleRun(ctx.store, "r");
      const done = completedTask("work", { fencingToken: 4 });
      await ctx.store.saveTask("r", done, { type: "task_completed" });
      const lease = await ctx.store.claimTask("r", "work", "worker-z", 30_000);
      expect(lease?.token).toBe(5);
      expect((await ctx.store.getRun("r"))!.tasks).toEqual([{ ...done, worker: "worker-z", fencingToken: 5, leaseExpiresAt: lease!.expiresAt }]);
    });

    it("a claim with start writes the started record under the claim's lease and its event, in one commit", async () => {
      await beginSampleRun(ctx.store, "r");
      const started: TaskRecord = {
        ...newTaskRecord("work"),
        status: "running",
        inputHash: "h1",
        startedAt: "2026-01-02T03:04:05.000Z",
        attempts: 1,
        model: "demo",
        worker: "someone-else",
        fencingToken: 99,
      };
      const lease = (await ctx.store.claimTask("r", "work", "worker-a", 30_000, {
        start: { task: started, event: { type: "task_started", data: { attempt: 1 } } },
      }))!;
      expect(lease).toMatchObject({ worker: "worker-a", token: 1 });
      expect((await ctx.store.getRun("r"))!.tasks).toEqual([{ ...started, worker: "worker-a", fencingToken: 1, leaseExpiresAt: lease.expiresAt }]);
      const events = await ctx.store.events("r");
      expect(events.map((e) => [e.type, e.task, e.data])).toEqual([
        ["run_started", null, { attempt: 1 }],
        ["task_started", "work", { attempt: 1 }],
      ]);

      const other = await ctx.reopen();
      expect((await other.getRun("r"))!.tasks).toEqual((await ctx.store.getRun("r"))!.tasks);
      expect(await other.events("r")).toEqual(events);

      // The next claim's token follows the store's, not the one the started record carried.
      const again = (await ctx.store.claimTask("r", "work", "worker-a", 30_000, { start: { task: { ...started, attempts: 2 }, event: { type: "task_retry" } } }))!;
      expect(again.token).toBe(2);
      expect((await ctx.store.getRun("r"))!.tasks[0]).toMatchObject({ attempts: 2, fencingToken: 2, worker: "worker-a" });
    });

    it("a refused claim with start writes neither the record nor the event", async () => {
      await beginSampleRun(ctx.store, "r");
      await ctx.store.claimTask("r", "work", "worker-a", 30_000);
      const before = await observe(ctx.store, "r");
      const start = { task: { ...newTaskRecord("work"), status: "running" as const, attempts: 1 }, event: { type: "task_started" as const } };
      expect(await ctx.store.claimTask("r", "work", "worker-b", 30_000, { start })).toBeUndefined();
      expect(await observe(ctx.store, "r")).toEqual(before);
    });

    it("refuses a start for another task, or with data JSON cannot carry, with INVALID_INPUT, writing nothing", async () => {
      await beginSampleRun(ctx.store, "r");
      const before = await observe(ctx.store, "r");
      await expectCode(() => ctx.store.claimTask("r", "work", "worker-a", 30_000, { start: { task: newTaskRecord("other"), event: { type: "task_started" } } }), "INVALID_INPUT");
      await expectCode(
        () => ctx.store.claimTask("r", "work", "worker-a", 30_000, { start: { task: newTaskRecord("work"), event: { type: "task_started", data: { n: Number.NaN } } } }),
        "NOT_JSON",
      );
      expect(await observe(ctx.store, "r")).toEqual(before);
    });

    it("a claim with seenToken is granted only while the task's token is still the one seen", async () => {
      await beginSampleRun(ctx.store, "r");
      // No record yet: token 0.
      expect(await ctx.store.claimTask("r", "work", "worker-a", 30_000, { seenToken: 1 })).toBeUndefined();
      const a = (await ctx.store.claimTask("r", "work", "worker-a", 30_000, { seenToken: 0 }))!;
      expect(a.token).toBe(1);
      await ctx.store.saveTask("r", completedTask("work", { worker: "worker-a", fencingToken: 1 }), { type: "task_completed" }, { fencingToken: 1 });

      // worker-b read the run before worker-a claimed the task: its claim is refused, changing nothing.
      const before = await observe(ctx.store, "r");
      const start = { task: { ...newTaskRecord("work"), status: "running" as const, attempts: 1 }, event: { type: "task_started" as const } };
      expect(await ctx.store.claimTask("r", "work", "worker-b", 30_000, { seenToken: 0, start })).toBeUndefined();
      expect(await observe(ctx.store, "r")).toEqual(before);
      expect(await ctx.store.claimTask("r", "work", "worker-b", 30_000, { seenToken: 1 })).toMatchObject({ worker: "worker-b", token: 2 });
      await expectCode(() => ctx.store.claimTask("r", "work", "worker-b", 30_000, { seenToken: -1 }), "INVALID_INPUT");
    });

    it("renews a current lease, and refuses a stale one with FENCED_OUT, changing nothing", async () => {
      await beginSampleRun(ctx.store, "r");
      const first = (await ctx.store.claimTask("r", "work", "worker-a", 1_000))!;
      await sleep(20);
      const renewed = await ctx.store.heartbeat(first, 60_000);
      expect(renewed).toMatchObject({ runId: "r", task: "work", worker: "worker-a", token: 1 });
      expect(Date.parse(renewed.expiresAt)).toBeGreaterThan(Date.parse(first.expiresAt));
      expect((await ctx.store.getRun("r"))!.tasks[0]!.leaseExpiresAt).toBe(renewed.expiresAt);

      const second = (await ctx.store.claimTask("r", "work", "worker-b", 30_000, { takeOverFrom: "worker-a" }))!;
      const before = await observe(ctx.store, "r");
      const error = await expectCode(() => ctx.store.heartbeat(first, 60_000), "FENCED_OUT");
      expect(error.context).toMatchObject({ runId: "r", task: "work" });
      expect(await observe(ctx.store, "r")).toEqual(before);
      expect(second.token).toBe(2);
    });

    it("a commit under the current lease's token succeeds; the previous holder's is fenced out", async () => {
      await beginSampleRun(ctx.store, "r");
      const a = (await ctx.store.claimTask("r", "work", "worker-a", 30_000))!;
      const b = (await ctx.store.claimTask("r", "work", "worker-b", 30_000, { takeOverFrom: "worker-a" }))!;
      await expectCode(
        () => ctx.store.saveTask("r", completedTask("work", { worker: "worker-a", fencingToken: a.token }), { type: "task_completed" }, { fencingToken: a.token }),
        "FENCED_OUT",
      );
      const done = completedTask("work", { worker: "worker-b", fencingToken: b.token });
      await ctx.store.saveTask("r", done, { type: "task_completed" }, { fencingToken: b.token });
      expect((await ctx.store.getRun("r"))!.tasks).toEqual([done]);
    });

    it("release ends a current lease at once, and ignores a stale one", async () => {
      await beginSampleRun(ctx.store, "r");
      const a = (await ctx.store.claimTask("r", "work", "worker-a", 30_000))!;
      await ctx.store.releaseTask(a);
      expect((await ctx.store.getRun("r"))!.tasks[0]).toMatchObject({ worker: "worker-a", fencingToken: 1, leaseExpiresAt: null });
      const b = (await ctx.store.claimTask("r", "work", "worker-b", 30_000))!;
      expect(b.token).toBe(2);
      const before = await observe(ctx.store, "r");
      await ctx.store.releaseTask(a);
      expect(await observe(ctx.store, "r")).toEqual(before);
    });

    it("grants exactly one of many simultaneous claims", async () => {
      await beginSampleRun(ctx.store, "r");
      const leases = await Promise.all(Array.from({ length: 12 }, (_, i) => ctx.store.claimTask("r", "work", `worker-${i}`, 30_000)));
      const granted = leases.filter((l) => l !== undefined);
      expect(granted).toHaveLength(1);
      expect((await ctx.store.getRun("r"))!.tasks[0]).toMatchObject({ worker: granted[0]!.worker, fencingToken: 1 });
    });

    it("a lease taken through one handle holds against another", async () => {
      await beginSampleRun(ctx.store, "r");
      const lease = (await ctx.store.claimTask("r", "work", "worker-a", 30_000))!;
      const other = await ctx.reopen();
      expect(await other.claimTask("r", "work", "worker-b", 30_000)).toBeUndefined();
      await expectCode(() => other.heartbeat({ ...lease, token: lease.token + 1 }, 30_000), "FENCED_OUT");
    });

    it("refuses a claim on an unknown run with RUN_NOT_FOUND, and bad arguments with INVALID_INPUT", async () => {
      await expectCode(() => ctx.store.claimTask("no-such-run", "work", "worker-a", 30_000), "RUN_NOT_FOUND");
      await beginSampleRun(ctx.store, "r");
      await expectCode(() => ctx.store.claimTask("r", "work", "", 30_000), "INVALID_INPUT");
      await expectCode(() => ctx.store.claimTask("r", "work", "worker-a", 0), "INVALID_INPUT");
      await expectCode(() => ctx.store.claimTask("r", "work", "worker-a", 1.5), "INVALID_INPUT");
      expect((await ctx.store.getRun("r"))!.tasks).toEqual([]);
    });
  });
}
