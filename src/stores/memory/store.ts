import { BaseStore } from "../base-store.js";
import { ok, type Busy, type Exists, type Fenced, type NoRun, type Ok, type OtherCrew, type OtherKind, type Refusal } from "../outcomes.js";
import { reuseOp, StateImage, type StoreOp } from "./state-image.js";
import type { BeginRun, CallRecord, ClaimOptions, CommitOptions, FenceOptions, Freed, Lease, NewEvent, ReusedTask, ReuseOptions, Run, RunDump, RunEvent, RunStatus, RunSummary, TaskRecord } from "../store.js";

/** Keeps everything in this process: for tests and throwaway runs (`memory:`). */
export class MemoryStore extends BaseStore {
  readonly location = "memory:";
  private readonly image = new StateImage();

  /**
   * Checks and applies one op — nothing awaits in between, so nothing else runs in between.
   * Returns `ok(after(lease))` for an op applied (`lease`: the one it granted, if any),
   * `ok(skipped)` for a no-op, or the refusal `R`: the refusals this op can meet.
   */
  private commit<T, R extends Refusal = never>(op: StoreOp, after: (lease: Lease | undefined) => T, skipped?: T): Ok<T> | R {
    const verdict = this.image.check(op);
    if (verdict === "noop") return ok(skipped as T);
    if (verdict !== "apply") return verdict as R;
    return ok(after(this.image.apply(op)));
  }

  protected async doBeginRun(init: BeginRun, at: string): Promise<Ok<Run> | OtherCrew | OtherKind> {
    return this.commit<Run, OtherCrew | OtherKind>({ op: "beginRun", init, at }, () => this.image.getRun(init.runId)!);
  }
  protected async doGetRun(runId: string): Promise<Run | undefined> {
    return this.image.getRun(runId);
  }
  protected async doListRuns(): Promise<RunSummary[]> {
    return this.image.listRuns();
  }
  protected async doSaveTask(runId: string, task: TaskRecord, event: NewEvent, at: string, options: CommitOptions): Promise<Ok<Lease | undefined> | NoRun | Fenced> {
    const { fencingToken, fencedBy, calls, next, endRun } = options;
    return this.commit<Lease | undefined, NoRun | Fenced>({ op: "saveTask", runId, task, event, at, fencingToken, fencedBy, calls, next, endRun }, (lease) => lease);
  }
  protected async doReuseTasks(runId: string, tasks: ReusedTask[], event: NewEvent, at: string, options: ReuseOptions): Promise<Ok | NoRun | Fenced | OtherCrew | OtherKind> {
    return this.commit<undefined, NoRun | Fenced | OtherCrew | OtherKind>(reuseOp(runId, tasks, event, at, options), () => undefined);
  }
  protected async doSetRunStatus(runId: string, status: RunStatus, error: string | null, event: NewEvent, at: string): Promise<Ok | NoRun> {
    return this.commit<undefined, NoRun>({ op: "setRunStatus", runId, status, error, event, at }, () => undefined);
  }
  protected async doRemoveTask(runId: string, task: string, event: NewEvent, at: string): Promise<Ok<boolean> | NoRun> {
    return this.commit<boolean, NoRun>({ op: "removeTask", runId, task, event, at }, () => true, false);
  }
  protected async doEvents(runId: string): Promise<RunEvent[]> {
    return this.image.events(runId);
  }
  protected async doRecordCall(runId: string, call: CallRecord, options: FenceOptions): Promise<Ok | NoRun | Fenced> {
    return this.commit<undefined, NoRun | Fenced>({ op: "recordCall", runId, call, fencingToken: options.fencingToken, fencedBy: options.fencedBy }, () => undefined);
  }
  protected async doCalls(runId: string, task: string): Promise<CallRecord[]> {
    return this.image.calls(runId, task);
  }
  protected async doClearCalls(runId: string, task: string): Promise<Ok | NoRun> {
    return this.commit<undefined, NoRun>({ op: "clearCalls", runId, task }, () => undefined);
  }
  protected async doImportRun(dump: RunDump, overwrite: boolean): Promise<Ok | Exists> {
    return this.commit<undefined, Exists>({ op: "importRun", dump, overwrite }, () => undefined);
  }
  protected async doClaimTask(runId: string, task: string, worker: string, ttlMs: number, options: ClaimOptions): Promise<Ok<Lease | undefined> | NoRun> {
    const { takeOverFrom, start, seenToken } = options;
    return this.commit<Lease | undefined, NoRun>({ op: "claimTask", runId, task, worker, ttlMs, at: this.now(), takeOverFrom, start, seenToken }, (lease) => lease);
  }
  protected async doHeartbeat(lease: Lease, ttlMs: number): Promise<Ok<Lease> | NoRun | Fenced> {
    return this.commit<Lease, NoRun | Fenced>({ op: "heartbeat", lease, ttlMs, at: this.now() }, (renewed) => renewed!);
  }
  protected async doReleaseTask(lease: Lease): Promise<void> {
    this.commit({ op: "releaseTask", lease, at: this.now() }, () => undefined);
  }
  protected async doDeleteRun(runId: string): Promise<Ok<Freed> | NoRun | Busy> {
    return this.commit<Freed, NoRun | Busy>({ op: "deleteRun", runId, at: this.now() }, () => ({ bytes: this.image.freed }));
  }
  protected async doDropJournals(runId: string): Promise<Ok<Freed> | NoRun | Busy> {
    return this.commit<Freed, NoRun | Busy>({ op: "dropJournals", runId, at: this.now() }, () => ({ bytes: this.image.freed }));
  }
  async close(): Promise<void> {}
}
