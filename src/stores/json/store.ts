import { createHash, randomBytes } from "node:crypto";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { BigIntStats } from "node:fs";
import { CrewstateError, quote } from "../../errors.js";
import { outputHashOf } from "../../hash.js";
import { outputMatchesHash } from "../output-check.js";
import { isSealed } from "../seal.js";
import { BaseStore } from "../base-store.js";
import { ok, type Busy, type Exists, type Fenced, type NoRun, type Ok, type OtherCrew, type OtherKind, type Refusal } from "../outcomes.js";
import { reuseOp, StateImage, type RunImage, type StoreOp } from "../memory/state-image.js";
import type { BeginRun, CallRecord, ClaimOptions, CommitOptions, FenceOptions, Freed, Lease, NewEvent, ReusedTask, ReuseOptions, Run, RunDump, RunEvent, RunStatus, RunSummary, TaskRecord } from "../store.js";
import {
  APPEND,
  FILE_MODE,
  closeQuietly,
  errnoOf,
  fsyncDir,
  ioError,
  isReadOnlyError,
  lstatOrNull,
  mkdirPrivate,
  nodeIo,
  readFile,
  assertRegular,
  unlinkQuietly,
  writeAll,
  writeTemp,
  type FileIo,
} from "./file-io.js";
import { findProblem, offsetOf, structureProblem } from "./json-scan.js";
import { LayoutError, MAX_DOCUMENT_DEPTH, MAX_PAYLOAD_DEPTH, depthExceeds, formatPath, opEntry, opFromEntry, readDocument, writeDocument, type Extras, type LoadedState } from "./layout.js";
import { FileLock } from "./lock.js";

/**
 * `json:<path>` — the tutorial's JSON file, made safe.
 *
 * The state lives in ONE human-readable file (layout in `json/layout.ts`) plus, while
 * processes are writing, a journal beside it (`<path>.journal`, JSON Lines):
 *
 * - **Commit (O(1))**: under the lock file, catch up with the disk, check the op against the
 *   in-memory `StateImage`, append one checksummed line `{"seq","sum","op"}` to the journal,
 *   fsync it, and only then apply the op in memory. A failed write or fsync leaves memory unchanged.
 *   One commit of the contract is one line: a task's result with the next task's claim and the
 *   run's end, a reuse of many results (with the run's end), a begin with its plan. A refusal
 *   (an unknown run, a stale token) is reported to `BaseStore` as an outcome and writes nothing.
 * - **Open**: read the file, replay the journal's complete lines past the file's `journal_seq`
 *   (a torn or garbled tail — broken pieces with no whole line after them — is a commit that was
 *   never acknowledged: ignored; a bad line with a whole line after it is corruption), then compact.
 * - **Compaction** (on open, on close, and when the journal outgrows max(8 MiB, 4 × the file)):
 *   write the whole state to a temp file, fsync, rename over the file, fsync the folder, delete
 *   the journal. `journal_seq` in the file says which lines it already holds, so a crash between
 *   the rename and the delete never applies a line twice.
 * - **Never overwrite what we cannot read**: a file or journal that does not parse or does not
 *   match the layout raises CORRUPT_STATE (path and byte offset, no content) and nothing is
 *   written; so does a newer schema (UNSUPPORTED_SCHEMA_VERSION). Duplicate keys are looked for
 *   before a file this process did not write is replaced.
 * - **Several processes**: commits and compactions run under `<path>.lock`; reads take no lock —
 *   journal sequence numbers tell them when they saw a mix of two generations, and they retry.
 * - **Leases**: a claim, heartbeat or release — or a result carrying the next task's claim — is a
 *   commit like any other, judged by this machine's clock as read under the lock; the journal line
 *   keeps that time, so replay decides the same.
 */
export interface JsonFileStoreOptions {
  /** How long a commit waits for another process's lock before STORE_LOCKED (default 10 s). */
  lockTimeoutMs?: number;
  /** Compact once the journal passes max(this, 4 × the file) bytes (default 8 MiB). */
  compactAfterBytes?: number;
  /**
   * Only read: no lock file, no compaction, no migration, no file or folder created; every write
   * method throws READ_ONLY. A hand edit is reported (a warning, and the `task_edited` event in
   * memory) but not recorded.
   */
  readOnly?: boolean;
  /** @internal File-system seam for fault-injection tests. */
  io?: FileIo;
}

const DEFAULT_LOCK_TIMEOUT_MS = 10_000;
const DEFAULT_COMPACT_AFTER_BYTES = 8 * 1024 * 1024;
/** A retry after a failed threshold compaction waits for this much more journal. */
const COMPACT_RETRY_BYTES = 1024 * 1024;
const READ_ATTEMPTS = 6;

/** Identity of the file a view was read from: a rename, an edit or a rewrite changes it. */
interface FileId {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
}

/** What this process knows of the disk: the state as of `lastSeq`, and where it came from. */
interface View extends LoadedState {
  image: StateImage;
  snapshot: FileId | null;
  /** The original bytes of a file still in the tutorial's layout (for the .bak). */
  tutorialBytes: Buffer | null;
  journalIno: bigint | null;
  /** Bytes of the journal seen, torn tail included. */
  journalSize: number;
  /** Completed tasks whose output no longer matches their output hash: edited by hand, not yet recorded. */
  handEdits: HandEdit[];
  /** Bytes of the journal replayed: the end of its last complete record (and its terminator). */
  consumed: number;
  /** The last record replayed is whole but its terminator is missing or garbled (a crash between the two fsyncs of an append). */
  unterminated: boolean;
  lastSeq: number;
}

/** A completed task whose stored output does not match its hash: someone edited the file. */
interface HandEdit {
  runId: string;
  task: string;
  previousOutputHash: string;
  outputHash: string;
}

/** A journal the reader may have caught mid-change (lock-free): re-read. */
class Inconsistent extends Error {}

export class JsonFileStore extends BaseStore {
  readonly location: string;
  private readonly file: string;
  private readonly journal: string;
  private readonly dir: string;
  private readonly io: FileIo;
  private readonly lock: FileLock;
  private readonly compactAfterBytes: number;
  private readonly readOnly: boolean;
  private readonly tag = randomBytes(4).toString("hex");
  private view: View | null = null;
  /** Identity of the last file this process wrote (no need to look it over before replacing it). */
  private written: FileId | null = null;
  /** The journal inode whose folder entry this process has fsynced. */
  private dirSyncedFor: bigint | null = null;
  private appendedSinceCompaction = false;
  private compactRetryAt = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private closing = false;
  private tempCounter = 0;

  private constructor(file: string, options: JsonFileStoreOptions) {
    super();
    this.file = file;
    this.location = file;
    this.journal = `${file}.journal`;
    this.dir = path.dirname(file);
    this.io = options.io ?? nodeIo;
    this.lock = new FileLock(this.io, `${file}.lock`, file, options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS);
    this.compactAfterBytes = options.compactAfterBytes ?? DEFAULT_COMPACT_AFTER_BYTES;
    this.readOnly = options.readOnly ?? false;
  }

  /**
   * Opens (or prepares to create) the state file at `file`: creates missing folders (0700),
   * replays and compacts a journal left by a crash, and removes a crash's temp files. A missing
   * file is an empty store; the file is written at the first compaction (at the latest on close).
   */
  static async open(file: string, options: JsonFileStoreOptions = {}): Promise<JsonFileStore> {
    const store = new JsonFileStore(path.resolve(file), options);
    await store.init();
    return store;
  }

  private async init(): Promise<void> {
    if (this.readOnly) {
      await this.readView();
      return;
    }
    mkdirPrivate(this.io, this.dir);
    try {
      await this.lock.run(() => {
        this.removeLeftovers();
        const view = this.refreshLocked();
        this.recordHandEdits(view);
        if (view.journalIno !== null) this.compact(view);
      });
    } catch (error) {
      // A folder we may only read: serve reads; a commit will say why it cannot write.
      if (!isReadOnlyError(error)) throw error;
      await this.readView();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Store primitives.

  protected async doBeginRun(init: BeginRun, at: string): Promise<Ok<Run> | OtherCrew | OtherKind> {
    return this.commit<Run, OtherCrew | OtherKind>({ op: "beginRun", init, at }, (image) => copyRun(image.runs.get(init.runId)!));
  }

  protected async doGetRun(runId: string): Promise<Run | undefined> {
    const image = (await this.readView()).image.runs.get(runId);
    return image && copyRun(image);
  }

  protected async doListRuns(): Promise<RunSummary[]> {
    return (await this.readView()).image.listRuns();
  }

  /**
   * One journal line: the record, its journal entries, the next task's claim and the run's end. A
   * commit with a claim is made under the lock, its time read there (see `doClaimTask`).
   */
  protected async doSaveTask(runId: string, task: TaskRecord, event: NewEvent, at: string, options: CommitOptions): Promise<Ok<Lease | undefined> | NoRun | Fenced> {
    const make = (at: string): StoreOp => {
      const op: StoreOp = { op: "saveTask", runId, task, event, at };
      if (options.fencingToken !== undefined) op.fencingToken = options.fencingToken;
      if (options.fencedBy !== undefined) op.fencedBy = options.fencedBy;
      if (options.calls !== undefined && options.calls.length > 0) op.calls = options.calls;
      if (options.next !== undefined) op.next = options.next;
      if (options.endRun !== undefined) op.endRun = options.endRun;
      return op;
    };
    return this.commit<Lease | undefined, NoRun | Fenced>(options.next === undefined ? make(at) : make, (_, lease) => lease);
  }

  /** One journal line: the run's begin, every record, the event, and the run's end. */
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
    return (await this.readView()).image.events(runId);
  }

  protected async doRecordCall(runId: string, call: CallRecord, options: FenceOptions): Promise<Ok | NoRun | Fenced> {
    const op: StoreOp = { op: "recordCall", runId, call };
    if (options.fencingToken !== undefined) op.fencingToken = options.fencingToken;
    if (options.fencedBy !== undefined) op.fencedBy = options.fencedBy;
    return this.commit<undefined, NoRun | Fenced>(op, () => undefined);
  }

  protected async doCalls(runId: string, task: string): Promise<CallRecord[]> {
    return (await this.readView()).image.calls(runId, task);
  }

  protected async doClearCalls(runId: string, task: string): Promise<Ok | NoRun> {
    return this.commit<undefined, NoRun>({ op: "clearCalls", runId, task }, () => undefined);
  }

  protected async doImportRun(dump: RunDump, overwrite: boolean): Promise<Ok | Exists> {
    return this.commit<undefined, Exists>({ op: "importRun", dump, overwrite }, () => undefined);
  }

  // Lease ops read the clock under the lock, after catching up with the disk: no other process can
  // commit between the time a lease is judged by and the change. The time is journaled with the
  // op, so replay judges it the same way.

  protected async doClaimTask(runId: string, task: string, worker: string, ttlMs: number, options: ClaimOptions): Promise<Ok<Lease | undefined> | NoRun> {
    return this.commit<Lease | undefined, NoRun>(
      (at): StoreOp => {
        const op: StoreOp = { op: "claimTask", runId, task, worker, ttlMs, at };
        if (options.takeOverFrom !== undefined) op.takeOverFrom = options.takeOverFrom;
        if (options.start !== undefined) op.start = options.start;
        if (options.seenToken !== undefined) op.seenToken = options.seenToken;
        return op;
      },
      (_, lease) => lease,
    );
  }

  protected async doHeartbeat(lease: Lease, ttlMs: number): Promise<Ok<Lease> | NoRun | Fenced> {
    return this.commit<Lease, NoRun | Fenced>((at) => ({ op: "heartbeat", lease, ttlMs, at }), (image) => image.lease(lease.runId, lease.task));
  }

  protected async doReleaseTask(lease: Lease): Promise<void> {
    await this.commit((at) => ({ op: "releaseTask", lease, at }), () => undefined);
  }

  // A deletion is judged by the clock read under the lock, like a claim: one journal line.
  protected async doDeleteRun(runId: string): Promise<Ok<Freed> | NoRun | Busy> {
    return this.commit<Freed, NoRun | Busy>((at) => ({ op: "deleteRun", runId, at }), (image) => ({ bytes: image.freed }));
  }

  protected async doDropJournals(runId: string): Promise<Ok<Freed> | NoRun | Busy> {
    return this.commit<Freed, NoRun | Busy>((at) => ({ op: "dropJournals", runId, at }), (image) => ({ bytes: image.freed }));
  }

  /**
   * Rewrites the file from the current state and drops the journal, now (as on close): what
   * `crewstate prune` does after deleting, so the deleted runs leave the file at once.
   */
  async compactNow(): Promise<void> {
    this.assertOpen();
    if (this.readOnly) return;
    const done = this.queue.then(() =>
      this.lock.run(() => {
        const view = this.refreshLocked();
        if (view.journalIno !== null) this.compact(view);
      }),
    );
    this.queue = done.catch(() => undefined);
    await done;
  }

  /** Compacts what this process journaled, so that the file alone holds the state; idempotent. */
  async close(): Promise<void> {
    if (this.closing) return this.queue.then(() => undefined);
    this.closing = true;
    const done = this.queue.then(async () => {
      if (!this.appendedSinceCompaction) return;
      await this.lock.run(() => {
        const view = this.refreshLocked();
        if (view.journalIno !== null) this.compact(view);
      });
    });
    this.queue = done.catch(() => undefined);
    await done;
  }

  // ---------------------------------------------------------------------------------------------
  // Commits.

  /**
   * One commit: encode (outside the lock), then under it catch up, check, append + fsync, apply.
   * Returns `ok(after(image, lease))` for an op that changed something (`lease`: the one it
   * granted, if any), `ok(skipped)` for a no-op, and the refusal `R` — the refusals this op can
   * meet — for an op the state refuses, writing nothing. An op given as a function of the time is
   * made (and encoded) under the lock, with the time read there.
   */
  private commit<T, R extends Refusal = never>(
    op: StoreOp | ((at: string) => StoreOp),
    after: (image: StateImage, lease: Lease | undefined) => T,
    skipped?: T,
  ): Promise<Ok<T> | R> {
    this.assertOpen();
    if (this.readOnly) {
      const name = typeof op === "function" ? "write" : op.op;
      return Promise.reject(
        new CrewstateError("READ_ONLY", `the JSON store ${this.file} was opened read-only; cannot ${name}. Open it without readOnly to change it`, {
          store: `json:${this.file}`,
          path: this.file,
        }),
      );
    }
    const run = async (): Promise<Ok<T> | R> => {
      const encodeOp = (made: StoreOp) => {
        try {
          return { made, encoded: this.encode(made), invalid: undefined };
        } catch (error) {
          return { made, encoded: undefined, invalid: error };
        }
      };
      const early = typeof op === "function" ? undefined : encodeOp(op);
      return this.lock.run(() => {
        const view = this.refreshLocked();
        this.recordHandEdits(view);
        const { made, encoded, invalid } = early ?? encodeOp((op as (at: string) => StoreOp)(new Date().toISOString()));
        if (!encoded) {
          // What the state refuses (an unknown run, a stale fencing token) is said first, as the
          // memory store says it; then why the op itself cannot be stored.
          const verdict = view.image.check(made);
          if (verdict !== "apply" && verdict !== "noop") return verdict as R;
          throw invalid;
        }
        const { text, decoded } = encoded;
        const verdict = view.image.check(decoded);
        if (verdict === "noop") return ok(skipped as T);
        if (verdict !== "apply") return verdict as R;
        this.append(view, text);
        const lease = this.applyOp(view, decoded);
        this.appendedSinceCompaction = true;
        const result = after(view.image, lease);
        this.maybeCompact(view);
        return ok(result);
      });
    };
    const result = this.queue.then(run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** The op's journal text, and the op as replay will see it (what memory applies, too). */
  private encode(op: StoreOp): { text: string; decoded: StoreOp } {
    let text: string;
    try {
      text = JSON.stringify(opEntry(op));
      return { text, decoded: opFromEntry(JSON.parse(text), []) };
    } catch (error) {
      if (error instanceof LayoutError) {
        const code = /nests deeper/.test(error.problem) ? "NOT_JSON" : "INVALID_INPUT";
        throw new CrewstateError(code, `cannot store this ${op.op} in ${this.file}: ${error.message}`, { path: this.file }, { cause: error });
      }
      if (error instanceof RangeError) {
        throw new CrewstateError("NOT_JSON", `cannot store this ${op.op}: a value nests deeper than ${MAX_PAYLOAD_DEPTH} levels`, { path: this.file }, { cause: error });
      }
      throw error;
    }
  }

  /**
   * Appends one record in two steps, each fsynced: the record, then its terminating newline. A
   * terminated record was therefore whole on disk before the newline was written, so replay can
   * tell a write torn by a crash (unterminated) from damage to an acknowledged commit (terminated
   * but failing its checksum). The price: two fsyncs per commit instead of one.
   */
  private append(view: View, opText: string): void {
    const seq = view.lastSeq + 1;
    // A previous record left unterminated by a crash gets its newline in front of this one.
    const record = Buffer.from(`${view.unterminated ? "\n" : ""}${journalRecord(seq, opText)}`);
    let fd: number | undefined;
    try {
      fd = this.io.openSync(this.journal, APPEND, FILE_MODE);
      const stat = this.io.fstatSync(fd, { bigint: true });
      if (view.journalIno === null) this.io.fchmodSync(fd, FILE_MODE);
      // A torn tail left by a crashed writer was never acknowledged: cut it before appending.
      if (Number(stat.size) !== view.consumed) this.io.ftruncateSync(fd, view.consumed);
      writeAll(this.io, fd, record);
      this.io.fsyncSync(fd);
      writeAll(this.io, fd, TERMINATOR);
      this.io.fsyncSync(fd);
      // The first line of a journal makes its name durable too. By inode alone, a journal made
      // after a compaction can look already synced: file systems reuse a deleted file's inode.
      if (view.consumed === 0 || this.dirSyncedFor !== stat.ino) {
        fsyncDir(this.io, this.dir);
        this.dirSyncedFor = stat.ino;
      }
      view.journalIno = stat.ino;
    } catch (error) {
      // Not acknowledged, so not applied. Take back what may have reached the file (an fsync
      // error is never retried and trusted), and read the disk afresh next time.
      if (fd !== undefined) {
        try {
          this.io.ftruncateSync(fd, view.consumed);
        } catch {
          // The next writer cuts it (it is a torn tail to everyone else) or replay finds it whole.
        }
      }
      this.view = null;
      throw ioError(error, "append to the journal", this.journal);
    } finally {
      if (fd !== undefined) closeQuietly(this.io, fd);
    }
    view.lastSeq = seq;
    view.consumed += record.length + TERMINATOR.length;
    view.journalSize = view.consumed;
    view.unterminated = false;
  }

  /** Applies a checked op to the view; returns the lease it granted, if any. */
  private applyOp(view: View, op: StoreOp): Lease | undefined {
    // Unknown keys of a task entry stay with the task when its record is replaced (saved again,
    // reused, claimed, renewed or released).
    const targets = tasksOf(op);
    if (targets.length === 0) return view.image.apply(op);
    const tasks = view.image.runs.get(targets[0]!.runId)?.tasks;
    const kept = targets.map((t) => view.extras.get(tasks?.get(t.task) ?? {}));
    const lease = view.image.apply(op);
    targets.forEach((t, i) => {
      const saved = tasks?.get(t.task);
      if (kept[i] && saved) view.extras.set(saved, kept[i]!);
    });
    return lease;
  }

  /**
   * Journals each hand edit found on load (under the lock) as `crewstate edit` would: the record
   * with its new output hash and a `task_edited` event `{ by: "hand", previousOutputHash,
   * outputHash }`, so that the tasks reading it go stale.
   */
  private recordHandEdits(view: View): void {
    const edits = view.handEdits;
    view.handEdits = [];
    for (const edit of edits) {
      const { text, decoded } = this.encode(handEditOp(view, edit));
      if (!view.image.check(decoded)) continue;
      this.append(view, text);
      this.applyOp(view, decoded);
      this.appendedSinceCompaction = true;
    }
  }

  /**
   * Completed tasks of a freshly loaded view whose output does not match their hash. Each carries
   * its new hash in memory at once; a read-only store also shows the edit event (in memory only)
   * and warns, where a writable one journals it under the lock (`recordHandEdits`).
   */
  private findHandEdits(view: View): HandEdit[] {
    const edits: HandEdit[] = [];
    for (const [runId, run] of view.image.runs) {
      for (const task of run.tasks.values()) {
        // A sealed record cannot be edited by hand: it would not open (see ../seal.ts).
        if (task.status !== "completed" || isSealed(task.output) || outputMatchesHash(task)) continue;
        const outputHash = outputHashOf(task.output ?? "", task.structured);
        edits.push({ runId, task: task.name, previousOutputHash: task.outputHash!, outputHash });
        task.outputHash = outputHash;
      }
    }
    if (this.readOnly) {
      for (const edit of edits) {
        this.applyOp(view, handEditOp(view, edit));
        process.emitWarning(
          `crewstate: the output of task "${edit.task}" of run "${edit.runId}" in ${this.file} was edited by hand (it no longer matches its output_hash); a run that opens the store for writing records the edit`,
          { code: "CREWSTATE_HAND_EDIT" },
        );
      }
    }
    return edits;
  }

  private maybeCompact(view: View): void {
    const fileSize = Number(view.snapshot?.size ?? 0n);
    const threshold = Math.max(this.compactAfterBytes, 4 * fileSize);
    if (view.consumed <= threshold || view.consumed < this.compactRetryAt) return;
    try {
      this.compact(view);
    } catch (error) {
      // The commit itself is durable in the journal; retry later and say so.
      this.compactRetryAt = view.consumed + COMPACT_RETRY_BYTES;
      process.emitWarning(`crewstate: could not compact ${this.file}: ${(error as Error).message}`, { code: "CREWSTATE_COMPACTION" });
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Compaction.

  /** Rewrites the file from `view` (which must be fresh, under the lock) and drops the journal. */
  private compact(view: View): void {
    if (view.snapshot && !sameFile(view.snapshot, this.written)) this.lookOver(view.snapshot);
    if (view.tutorialBytes) this.backUpTutorial(view.tutorialBytes);
    const bytes = Buffer.from(writeDocument({ runs: view.image.runs, journalSeq: view.lastSeq, extras: view.extras, topExtras: view.topExtras }));
    const tmp = writeTemp(this.io, this.file, bytes, this.tempSuffix());
    try {
      this.io.renameSync(tmp, this.file);
    } catch (error) {
      unlinkQuietly(this.io, tmp);
      this.view = null;
      throw ioError(error, "replace", this.file);
    }
    try {
      fsyncDir(this.io, this.dir);
      const stat = lstatOrNull(this.io, this.file);
      this.written = stat ? fileId(stat) : null;
      // Every journal line is in the file now (its journal_seq says so): the journal can go. If
      // this fails, its lines are skipped on replay: they are not past journal_seq.
      try {
        this.io.unlinkSync(this.journal);
      } catch (error) {
        if (errnoOf(error) !== "ENOENT") throw error;
      }
    } catch (error) {
      this.view = null;
      throw ioError(error, "finish compacting", this.file);
    }
    Object.assign(view, {
      snapshot: this.written,
      journalSeq: view.lastSeq,
      tutorial: false,
      tutorialBytes: null,
      journalIno: null,
      journalSize: 0,
      consumed: 0,
      unterminated: false,
    });
    this.appendedSinceCompaction = false;
  }

  /** Before replacing a file this process did not write, makes sure it is still the one read (and checked) under the lock. */
  private lookOver(expected: FileId): void {
    const stat = lstatOrNull(this.io, this.file);
    if (!stat || !sameFile(fileId(stat), expected)) {
      throw new CrewstateError("STORE_UNAVAILABLE", `${this.file} changed while it was locked; try again`, { path: this.file });
    }
  }

  /** Keeps the tutorial-layout original as `<file>.tutorial.bak`, never overwriting one. */
  private backUpTutorial(bytes: Buffer): void {
    const bak = `${this.file}.tutorial.bak`;
    const tmp = writeTemp(this.io, bak, bytes, this.tempSuffix());
    try {
      this.io.linkSync(tmp, bak);
      fsyncDir(this.io, this.dir);
    } catch (error) {
      if (errnoOf(error) !== "EEXIST") throw ioError(error, "back up the tutorial-layout file to", bak);
    } finally {
      unlinkQuietly(this.io, tmp);
    }
  }

  private tempSuffix(): string {
    return `${process.pid}-${this.tag}-${++this.tempCounter}`;
  }

  /** Temp files and moved-aside locks of crashed processes (we hold the lock: none is live). */
  private removeLeftovers(): void {
    const base = path.basename(this.file);
    let names: string[];
    try {
      names = this.io.readdirSync(this.dir);
    } catch (error) {
      throw ioError(error, "list the folder", this.dir);
    }
    for (const name of names) {
      if (name.startsWith(`${base}.tmp-`) || name.startsWith(`${base}.tutorial.bak.tmp-`) || name.startsWith(`${base}.lock.stale-`)) {
        unlinkQuietly(this.io, path.join(this.dir, name));
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Reading the disk.

  private assertOpen(): void {
    if (this.closing) throw new CrewstateError("STORE_UNAVAILABLE", `the JSON store ${this.file} is closed`, { path: this.file });
  }

  /** Catches up with the disk without the lock; retries a view caught mid-change. */
  private async readView(): Promise<View> {
    this.assertOpen();
    for (let attempt = 1; ; attempt++) {
      try {
        return this.refresh(attempt >= READ_ATTEMPTS);
      } catch (error) {
        if (!(error instanceof Inconsistent)) throw error;
        this.view = null;
        await sleep(attempt);
      }
    }
  }

  private refreshLocked(): View {
    try {
      return this.refresh(true);
    } catch (error) {
      this.view = null;
      throw error instanceof Inconsistent ? new CrewstateError("STORE_UNAVAILABLE", `${this.file} changed while it was locked`, { path: this.file }) : error;
    }
  }

  /**
   * Brings the view up to date: reads only new journal lines when the file is unchanged, else
   * everything. `strict` (under the lock, or a last attempt) makes any inconsistency corruption;
   * otherwise it throws `Inconsistent` for the caller to retry.
   */
  private refresh(strict: boolean): View {
    const current = this.view;
    if (current) {
      const stat = lstatOrNull(this.io, this.file);
      if (stat) assertRegular(stat, this.file);
      if (sameFile(stat ? fileId(stat) : null, current.snapshot)) {
        const journal = lstatOrNull(this.io, this.journal);
        if (journal) assertRegular(journal, this.journal);
        if (!journal) {
          if (current.journalIno === null) return current;
        } else if ((current.journalIno === null || journal.ino === current.journalIno) && Number(journal.size) >= current.consumed && (!current.unterminated || Number(journal.size) === current.consumed)) {
          // (After an unterminated record, anything more is read again from the start.)
          if (Number(journal.size) === current.consumed) {
            current.journalIno = journal.ino;
            current.journalSize = current.consumed;
            return current;
          }
          const tail = readFile(this.io, this.journal, current.consumed);
          if (tail && tail.stat.ino === journal.ino) {
            try {
              this.replay(current, tail.bytes, current.consumed, strict);
            } catch (error) {
              this.view = null;
              throw error;
            }
            current.journalIno = tail.stat.ino;
            current.journalSize = current.consumed + tail.bytes.length;
            return current;
          }
        }
      }
    }
    this.view = null;
    const view = this.load(strict);
    this.view = view;
    return view;
  }

  /** Reads the file and its whole journal into a new view. */
  private load(strict: boolean): View {
    const read = readFile(this.io, this.file);
    let loaded: LoadedState;
    if (!read) {
      loaded = { runs: new Map(), journalSeq: 0, extras: new WeakMap<object, Extras>(), topExtras: null, tutorial: false };
    } else {
      loaded = this.parseFile(read.bytes, read.stat);
    }
    const image = new StateImage();
    for (const [runId, run] of loaded.runs) image.runs.set(runId, run);
    const view: View = {
      ...loaded,
      runs: image.runs,
      image,
      snapshot: read ? fileId(read.stat) : null,
      tutorialBytes: loaded.tutorial && read ? read.bytes : null,
      journalIno: null,
      journalSize: 0,
      consumed: 0,
      unterminated: false,
      handEdits: [],
      lastSeq: loaded.journalSeq,
    };
    const journal = readFile(this.io, this.journal);
    if (journal) {
      this.replay(view, journal.bytes, 0, strict);
      view.journalIno = journal.stat.ino;
      view.journalSize = journal.bytes.length;
    }
    view.handEdits = this.findHandEdits(view);
    return view;
  }

  private parseFile(raw: Buffer, stat: BigIntStats): LoadedState {
    const bom = bomLength(raw);
    const bytes = raw.subarray(bom);
    let value: unknown;
    try {
      // fatal: a flipped bit in a multi-byte character is corruption, not a U+FFFD to write back.
      value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    } catch {
      // JSON.parse's message may quote the file: locate the fault ourselves, by byte.
      const problem = findProblem(bytes, { maxDepth: Number.MAX_SAFE_INTEGER, duplicates: false });
      throw this.corruptFile(bom + (problem?.offset ?? 0), problem?.problem ?? "not valid JSON");
    }
    // What JSON.parse lets through but would lose a value (a repeated key keeps only the last) or
    // blow the stack later: refused on every load, by every reader.
    const problem = structureProblem(bytes, MAX_DOCUMENT_DEPTH);
    if (problem) throw this.corruptFile(bom + problem.offset, problem.problem);
    const parsed = path.parse(this.file);
    try {
      return readDocument(value, { path: this.file, stem: parsed.name, modifiedAt: new Date(Number(stat.mtimeMs)).toISOString() });
    } catch (error) {
      if (!(error instanceof LayoutError)) throw error;
      const offset = offsetOf(bytes, error.at);
      throw this.corruptFile(offset === null ? null : bom + offset, `${formatPath(error.at)} ${error.problem}`);
    }
  }

  /**
   * Applies the records of `bytes` (journal bytes from offset `base`) past `view.lastSeq`. A
   * record that does not check out is a write torn by a crash only when nothing terminated comes
   * after its start (see `append`); anything else is corruption.
   */
  private replay(view: View, bytes: Buffer, base: number, strict: boolean): void {
    let pos = 0;
    let previous = -1;
    while (pos < bytes.length) {
      const offset = base + pos;
      const fail = (problem: string): never => {
        if (!strict) throw new Inconsistent();
        throw this.corruptJournal(offset, problem);
      };
      const record = readRecord(bytes, pos);
      if ("problem" in record) {
        if (!record.terminated && !wasTerminated(bytes, pos)) return; // a torn tail: never acknowledged
        fail(record.problem);
      }
      const { seq, value, end, next } = record as JournalRecord;
      if (seq <= previous) fail(`line ${seq} comes after line ${previous}`);
      previous = seq;
      if (seq > view.lastSeq) {
        if (seq !== view.lastSeq + 1) fail(`line ${seq} follows line ${view.lastSeq}: lines are missing`);
        let op: StoreOp;
        try {
          op = opFromEntry(value, ["op"]);
        } catch (error) {
          if (!(error instanceof LayoutError)) throw error;
          return fail(`${formatPath(error.at)} ${error.problem}`);
        }
        const verdict = view.image.check(op);
        if (verdict !== "apply" && verdict !== "noop") return fail(`its ${op.op} does not fit the state: ${misfit(verdict)}`);
        if (verdict === "apply") this.applyOp(view, op);
        view.lastSeq = seq;
      }
      view.unterminated = next === null;
      pos = next ?? end;
      view.consumed = base + pos;
      if (next === null) return;
    }
  }

  private corruptFile(offset: number | null, problem: string): CrewstateError {
    const where = offset === null ? "" : ` at byte ${offset}`;
    return new CrewstateError(
      "CORRUPT_STATE",
      `${this.file} is not a valid crewstate state file: ${problem}${where}. Nothing was written to it; fix it by hand or move it aside`,
      { path: this.file, offset: offset ?? undefined },
    );
  }

  private corruptJournal(offset: number, problem: string): CrewstateError {
    return new CrewstateError(
      "CORRUPT_STATE",
      `${this.journal} is corrupt at byte ${offset}: ${problem}. Nothing was written; move the journal aside to open the state as of its last compaction`,
      { path: this.journal, offset },
    );
  }
}

/**
 * What `StateImage.getRun` returns, copied field by field instead of by `structuredClone`: a
 * 1000-task run loads in a fraction of the time. Records in the image hold only their own fields.
 */
function copyRun(image: RunImage): Run {
  const tasks: TaskRecord[] = [];
  for (const task of image.tasks.values()) {
    tasks.push({ ...task, structured: copyJson(task.structured), usage: task.usage && { ...task.usage } });
  }
  return { ...image.run, inputs: { ...image.run.inputs }, tasks };
}

/** The task records an op may replace (all in one run). */
function tasksOf(op: StoreOp): Array<{ runId: string; task: string }> {
  switch (op.op) {
    case "saveTask":
      return [{ runId: op.runId, task: op.task.name }, ...(op.next ? [{ runId: op.runId, task: op.next.task }] : [])];
    case "reuseTasks":
      return op.tasks.map(({ record }) => ({ runId: op.runId, task: record.name }));
    case "claimTask":
      return [{ runId: op.runId, task: op.task }];
    case "heartbeat":
    case "releaseTask":
      return [{ runId: op.lease.runId, task: op.lease.task }];
    default:
      return [];
  }
}

/** Why a journaled op does not fit the state it is replayed onto, for a CORRUPT_STATE message. */
function misfit(refusal: Refusal): string {
  switch (refusal.outcome) {
    case "noRun":
      return "its run does not exist";
    case "fenced":
      return `task ${quote(refusal.task)} has fencing token ${refusal.current}, not the one it carries`;
    case "exists":
      return "its run exists already";
    case "otherCrew":
      return `its run belongs to crew ${quote(refusal.crew)}`;
    case "otherKind":
      return `its run is a ${refusal.kind} run`;
    case "busy":
      return refusal.task === null ? `its run is ${refusal.status}` : `task ${quote(refusal.task)} holds a lease until ${refusal.expiresAt}`;
  }
}

/** What `crewstate edit` would have committed for a hand edit: the record under its new hash, and the event saying so. */
function handEditOp(view: View, edit: HandEdit): StoreOp {
  const record = view.image.runs.get(edit.runId)!.tasks.get(edit.task)!;
  return {
    op: "saveTask",
    runId: edit.runId,
    task: { ...record, outputHash: edit.outputHash },
    event: { type: "task_edited", task: edit.task, data: { by: "hand", previousOutputHash: edit.previousOutputHash, outputHash: edit.outputHash } },
    at: new Date().toISOString(),
  };
}

function copyJson<T>(value: T): T {
  return typeof value === "object" && value !== null ? structuredClone(value) : value;
}

// ---------------------------------------------------------------------------------------------
// Journal records: `{"seq":N,"len":L,"sum":"S","op":OP}` + "\n", L the byte length of OP, S a
// checksum of N and OP. Journals written before `len` existed (`{"seq","sum","op"}` lines) are
// still read.

const TERMINATOR = Buffer.from("\n");
const NEWLINE = 0x0a;
const CLOSE_BRACE = 0x7d;
const RECORD_HEADER = /^\{"seq":([0-9]{1,15}),"len":([0-9]{1,10}),"sum":"([0-9a-f]{16})","op":/;
const OLD_HEADER = /^\{"seq":([0-9]{1,15}),"sum":"([0-9a-f]{16})","op":/;
const HEADER_BYTES = 80;

function journalRecord(seq: number, opText: string): string {
  return `{"seq":${seq},"len":${Buffer.byteLength(opText)},"sum":"${checksum(seq, opText)}","op":${opText}}`;
}

function checksum(seq: number, opText: string): string {
  return createHash("sha256").update(`${seq}\n${opText}`).digest("hex").slice(0, 16);
}

/**
 * A whole, checked record: its seq and op value, where it ends, and where the next starts (null
 * when its terminator is missing or garbled at the very end of the journal: a crash between the
 * two steps of `append`, the record itself whole).
 */
interface JournalRecord {
  seq: number;
  value: unknown;
  end: number;
  next: number | null;
}

/** Why the bytes at a record's place are not one; `terminated` when its newline stands where its length says. */
interface BadRecord {
  problem: string;
  terminated: boolean;
}

/** The record starting at `pos`, or why it is not one. */
function readRecord(bytes: Buffer, pos: number): JournalRecord | BadRecord {
  const head = bytes.toString("latin1", pos, Math.min(bytes.length, pos + HEADER_BYTES));
  const match = RECORD_HEADER.exec(head);
  if (!match) return readOldLine(bytes, pos, head);
  const seq = Number(match[1]);
  const opStart = pos + match[0].length;
  const end = opStart + Number(match[2]) + 1;
  if (end > bytes.length) return { problem: "the record is shorter than its length says", terminated: false };
  const terminated = bytes[end] === NEWLINE;
  if (bytes[end - 1] !== CLOSE_BRACE) return { problem: "the record does not end where its length says", terminated };
  if (!terminated && end + 1 < bytes.length) return { problem: "the record's terminator is damaged", terminated };
  const checked = checkedOp(seq, bytes.toString("utf8", opStart, end - 1), match[3]!);
  if (typeof checked === "string") return { problem: checked, terminated };
  return { seq, value: checked.value, end, next: bytes[end] === NEWLINE ? end + 1 : null };
}

/** A line of the journal layout before `len`: newline-terminated, or torn. */
function readOldLine(bytes: Buffer, pos: number, head: string): JournalRecord | BadRecord {
  const match = OLD_HEADER.exec(head);
  const nl = bytes.indexOf(NEWLINE, pos);
  if (!match || nl < 0 || bytes[nl - 1] !== CLOSE_BRACE) return { problem: "not a journal record", terminated: false };
  const checked = checkedOp(Number(match[1]), bytes.toString("utf8", pos + match[0].length, nl - 1), match[2]!);
  if (typeof checked === "string") return { problem: checked, terminated: false };
  return { seq: Number(match[1]), value: checked.value, end: nl, next: nl + 1 };
}

function checkedOp(seq: number, opText: string, sum: string): { value: unknown } | string {
  if (checksum(seq, opText) !== sum) return "checksum mismatch";
  let value: unknown;
  try {
    value = JSON.parse(opText);
  } catch {
    return "not valid JSON";
  }
  return depthExceeds(value, MAX_DOCUMENT_DEPTH) ? `nested deeper than ${MAX_DOCUMENT_DEPTH} levels` : { value };
}

/**
 * Whether a record that does not check out at `pos` had been terminated, so acknowledged: the
 * journal ends with a record's `}` + newline (a torn append never wrote its newline, and every
 * record before the last is terminated), or a whole record follows it.
 */
function wasTerminated(bytes: Buffer, pos: number): boolean {
  const n = bytes.length;
  if (n - pos >= 2 && bytes[n - 1] === NEWLINE && bytes[n - 2] === CLOSE_BRACE) return true;
  for (let nl = bytes.indexOf(NEWLINE, pos); nl >= 0; nl = bytes.indexOf(NEWLINE, nl + 1)) {
    if (!("problem" in readRecord(bytes, nl + 1))) return true;
  }
  return false;
}

function fileId(stat: BigIntStats): FileId {
  return { dev: stat.dev, ino: stat.ino, size: stat.size, mtimeNs: stat.mtimeNs };
}

function sameFile(a: FileId | null, b: FileId | null): boolean {
  if (a === null || b === null) return a === b;
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs;
}

function bomLength(bytes: Buffer): number {
  return bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
}

