import { BaseStore } from "./base-store.js";
import { StateImage, type StoreOp } from "./state-image.js";
import type { BeginRun, CallRecord, ClaimOptions, CommitOptions, FenceOptions, Lease, NewEvent, Run, RunDump, RunEvent, RunStatus, RunSummary, TaskRecord } from "./store.js";

/** Keeps everything in this process: for tests and throwaway runs (`memory:`). */
export class MemoryStore extends BaseStore {
  readonly location = "memory:";
  private readonly image = new StateImage("the memory store");

  private commit(op: StoreOp): boolean {
    if (!this.image.check(op)) return false;
    this.image.apply(op);
    return true;
  }

  protected async doBeginRun(init: BeginRun, at: string): Promise<Run> {
    this.commit({ op: "beginRun", init, at });
    return this.image.getRun(init.runId)!;
  }
  protected async doGetRun(runId: string): Promise<Run | undefined> {
    return this.image.getRun(runId);
  }
  protected async doListRuns(): Promise<RunSummary[]> {
    return this.image.listRuns();
  }
  protected async doSaveTask(runId: string, task: TaskRecord, event: NewEvent, at: string, options: CommitOptions): Promise<void> {
    this.commit({ op: "saveTask", runId, task, event, at, fencingToken: options.fencingToken, fencedBy: options.fencedBy, calls: options.calls });
  }
  protected async doSetRunStatus(runId: string, status: RunStatus, error: string | null, event: NewEvent, at: string): Promise<void> {
    this.commit({ op: "setRunStatus", runId, status, error, event, at });
  }
  protected async doRemoveTask(runId: string, task: string, event: NewEvent, at: string): Promise<boolean> {
    return this.commit({ op: "removeTask", runId, task, event, at });
  }
  protected async doEvents(runId: string): Promise<RunEvent[]> {
    return this.image.events(runId);
  }
  protected async doRecordCall(runId: string, call: CallRecord, options: FenceOptions): Promise<void> {
    this.commit({ op: "recordCall", runId, call, fencingToken: options.fencingToken, fencedBy: options.fencedBy });
  }
  protected async doCalls(runId: string, task: string): Promise<CallRecord[]> {
    return this.image.calls(runId, task);
  }
  protected async doClearCalls(runId: string, task: string): Promise<void> {
    this.commit({ op: "clearCalls", runId, task });
  }
  protected async doImportRun(dump: RunDump, overwrite: boolean): Promise<void> {
    this.commit({ op: "importRun", dump, overwrite });
  }
  protected async doClaimTask(runId: string, task: string, worker: string, ttlMs: number, options: ClaimOptions): Promise<Lease | undefined> {
    if (!this.commit({ op: "claimTask", runId, task, worker, ttlMs, at: this.now(), takeOverFrom: options.takeOverFrom, start: options.start, seenToken: options.seenToken })) return undefined;
    return this.image.lease(runId, task);
  }
  protected async doHeartbeat(lease: Lease, ttlMs: number): Promise<Lease> {
    this.commit({ op: "heartbeat", lease, ttlMs, at: this.now() });
    return this.image.lease(lease.runId, lease.task);
  }
  protected async doReleaseTask(lease: Lease): Promise<void> {
    this.commit({ op: "releaseTask", lease, at: this.now() });
  }
  async close(): Promise<void> {}
}
