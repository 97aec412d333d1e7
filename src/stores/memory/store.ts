import { BaseStore } from "../base-store.js";
import { ok, type Exists, type Fenced, type NoRun, type Ok, type OtherCrew, type OtherKind, type Refusal } from "../outcomes.js";
import { StateImage, type StoreOp } from "./state-image.js";
import type { BeginRun, CallRecord, ClaimOptions, CommitOptions, FenceOptions, Lease, NewEvent, ReusedTask, Run, RunDump, RunEnd, RunEvent, RunStatus, RunSummary, TaskRecord } from "../store.js";

/** What a commit did: applied (with the lease it granted, if any), nothing to do, or refused. */
type Committed = { applied: true; lease: Lease | undefined } | { applied: false } | Refusal;

/** Keeps everything in this process: for tests and throwaway runs (`memory:`). */
export class MemoryStore extends BaseStore {
  readonly location = "memory:";
  private readonly image = new StateImage();

  /** Checks and applies one op; nothing awaits in between, so nothing else runs in between. */
  private commit(op: StoreOp): Committed {
    const verdict = this.image.check(op);
    if (verdict === "noop") return { applied: false };
    if (verdict !== "apply") return verdict;
    return { applied: true, lease: this.image.apply(op) };
  }

  protected async doBeginRun(init: BeginRun, at: string): Promise<Ok<Run> | OtherCrew | OtherKind> {
    const done = this.commit({ op: "beginRun", init, at });
    return "outcome" in done ? (done as OtherCrew | OtherKind) : ok(this.image.getRun(init.runId)!);
  }
  protected async doGetRun(runId: string): Promise<Run | undefined> {
    return this.image.getRun(runId);
  }
  protected async doListRuns(): Promise<RunSummary[]> {
    return this.image.listRuns();
  }
  protected async doSaveTask(runId: string, task: TaskRecord, event: NewEvent, at: string, options: CommitOptions): Promise<Ok<Lease | undefined> | NoRun | Fenced> {
    const { fencingToken, fencedBy, calls, next, endRun } = options;
    const done = this.commit({ op: "saveTask", runId, task, event, at, fencingToken, fencedBy, calls, next, endRun });
    return "outcome" in done ? (done as NoRun | Fenced) : ok(done.applied ? done.lease : undefined);
  }
  protected async doReuseTasks(runId: string, tasks: ReusedTask[], event: NewEvent, at: string, options: { endRun?: RunEnd }): Promise<Ok | NoRun | Fenced> {
    const done = this.commit({ op: "reuseTasks", runId, tasks, event, at, endRun: options.endRun });
    return "outcome" in done ? (done as NoRun | Fenced) : ok();
  }
  protected async doSetRunStatus(runId: string, status: RunStatus, error: string | null, event: NewEvent, at: string): Promise<Ok | NoRun> {
    const done = this.commit({ op: "setRunStatus", runId, status, error, event, at });
    return "outcome" in done ? (done as NoRun) : ok();
  }
  protected async doRemoveTask(runId: string, task: string, event: NewEvent, at: string): Promise<Ok<boolean> | NoRun> {
    const done = this.commit({ op: "removeTask", runId, task, event, at });
    return "outcome" in done ? (done as NoRun) : ok(done.applied);
  }
  protected async doEvents(runId: string): Promise<RunEvent[]> {
    return this.image.events(runId);
  }
  protected async doRecordCall(runId: string, call: CallRecord, options: FenceOptions): Promise<Ok | NoRun | Fenced> {
    const done = this.commit({ op: "recordCall", runId, call, fencingToken: options.fencingToken, fencedBy: options.fencedBy });
    return "outcome" in done ? (done as NoRun | Fenced) : ok();
  }
  protected async doCalls(runId: string, task: string): Promise<CallRecord[]> {
    return this.image.calls(runId, task);
  }
  protected async doClearCalls(runId: string, task: string): Promise<Ok | NoRun> {
    const done = this.commit({ op: "clearCalls", runId, task });
    return "outcome" in done ? (done as NoRun) : ok();
  }
  protected async doImportRun(dump: RunDump, overwrite: boolean): Promise<Ok | Exists> {
    const done = this.commit({ op: "importRun", dump, overwrite });
    return "outcome" in done ? (done as Exists) : ok();
  }
  protected async doClaimTask(runId: string, task: string, worker: string, ttlMs: number, options: ClaimOptions): Promise<Ok<Lease | undefined> | NoRun> {
    const { takeOverFrom, start, seenToken } = options;
    const done = this.commit({ op: "claimTask", runId, task, worker, ttlMs, at: this.now(), takeOverFrom, start, seenToken });
    return "outcome" in done ? (done as NoRun) : ok(done.applied ? done.lease : undefined);
  }
  protected async doHeartbeat(lease: Lease, ttlMs: number): Promise<Ok<Lease> | NoRun | Fenced> {
    const done = this.commit({ op: "heartbeat", lease, ttlMs, at: this.now() });
    return "outcome" in done ? (done as NoRun | Fenced) : ok(this.image.lease(lease.runId, lease.task));
  }
  protected async doReleaseTask(lease: Lease): Promise<void> {
    this.commit({ op: "releaseTask", lease, at: this.now() });
  }
  async close(): Promise<void> {}
}
