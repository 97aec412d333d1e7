import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { threadId } from "node:worker_threads";
import { CrewstateError } from "../../errors.js";
import { CREATE_NEW, FILE_MODE, READ, assertRegular, closeQuietly, errnoOf, ioError, lstatOrNull, unlinkQuietly, writeAll, type FileIo } from "./file-io.js";

/**
 * A lock file beside the state file (`<file>.lock`), created with O_EXCL and holding who took it.
 * Every section run under it is synchronous, so a lock only lives for one commit or compaction.
 *
 * A lock is stale — and taken over — when its holder is on this host and provably gone: its pid
 * is dead, the machine rebooted since (Linux boot id), or it is this very thread's (a section
 * always releases before yielding, so an own lock can only be a leftover). A lock from another
 * host is never judged stale. A holder that crashed between creating the file and writing it
 * leaves an empty file: stale once it is 5 s old.
 */
export interface LockHolder {
  pid: number;
  host: string;
  boot: string | null;
  thread: number;
  nonce: string;
  since: string;
}

const UNREADABLE_STALE_MS = 5_000;
const MAX_BACKOFF_MS = 50;

let bootId: string | null | undefined;
function currentBootId(): string | null {
  if (bootId === undefined) {
    try {
      bootId = fs.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim() || null;
    } catch {
      bootId = null;
    }
  }
  return bootId;
}

export class FileLock {
  private readonly tag = randomBytes(6).toString("hex");
  private counter = 0;
  private held: string | null = null;

  constructor(
    private readonly io: FileIo,
    /** The lock file. */
    readonly path: string,
    /** The state file it guards, for messages. */
    private readonly target: string,
    private readonly timeoutMs: number,
  ) {}

  /**
   * Runs `section` (synchronously) while holding the lock, waiting with backoff for another
   * holder up to the timeout, then failing with STORE_LOCKED.
   */
  async run<T>(section: () => T): Promise<T> {
    const deadline = Date.now() + this.timeoutMs;
    let backoff = 1;
    for (;;) {
      const holder = this.tryAcquire();
      if (holder === null) {
        try {
          return section();
        } finally {
          this.release();
        }
      }
      if (Date.now() >= deadline) throw this.lockedError(holder);
      await sleep(backoff + Math.random() * backoff);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }

  /** Takes the lock (null) or says who holds it (undefined when unreadable). */
  private tryAcquire(): LockHolder | undefined | null {
    for (let attempt = 0; attempt < 3; attempt++) {
      const me: LockHolder = {
        pid: process.pid,
        host: os.hostname(),
        boot: currentBootId(),
        thread: threadId,
        nonce: `${this.tag}-${++this.counter}`,
        since: new Date().toISOString(),
      };
      let fd: number;
      try {
        fd = this.io.openSync(this.path, CREATE_NEW, FILE_MODE);
      } catch (error) {
        if (errnoOf(error) !== "EEXIST") throw ioError(error, "create the lock file", this.path);
        this.assertRegularLock();
        const seen = this.readHolder(this.path);
        if (seen === "absent") continue; // released meanwhile: try again at once
        if (!this.isStale(seen)) return seen === "unreadable" ? undefined : seen;
        this.breakStale(seen);
        continue;
      }
      try {
        writeAll(this.io, fd, Buffer.from(JSON.stringify(me)));
      } catch (error) {
        closeQuietly(this.io, fd);
        unlinkQuietly(this.io, this.path);
        throw ioError(error, "write the lock file", this.path);
      }
      closeQuietly(this.io, fd);
      this.held = me.nonce;
      return null;
    }
    return undefined;
  }

  /** A FIFO, folder or link where the lock file belongs is never taken for a lock, nor broken. */
  private assertRegularLock(): void {
    const stat = lstatOrNull(this.io, this.path);
    if (stat) assertRegular(stat, this.path);
  }

  private release(): void {
    const nonce = this.held;
    this.held = null;
    if (nonce === null) return;
    const seen = this.readHolder(this.path);
    // Only ever remove our own lock file.
    if (typeof seen === "object" && seen.nonce === nonce) unlinkQuietly(this.io, this.path);
  }

  private readHolder(file: string): LockHolder | "absent" | "unreadable" {
    let text: string;
    try {
      const fd = this.io.openSync(file, READ);
      try {
        const buf = Buffer.alloc(4096);
        const n = this.io.readSync(fd, buf, 0, buf.length, 0);
        text = buf.toString("utf8", 0, n);
      } finally {
        closeQuietly(this.io, fd);
      }
    } catch (error) {
      return errnoOf(error) === "ENOENT" ? "absent" : "unreadable";
    }
    try {
      const value = JSON.parse(text) as Partial<LockHolder>;
      if (typeof value.pid === "number" && typeof value.host === "string" && typeof value.nonce === "string") {
        return {
          pid: value.pid,
          host: value.host,
          boot: typeof value.boot === "string" ? value.boot : null,
          thread: typeof value.thread === "number" ? value.thread : 0,
          nonce: value.nonce,
          since: typeof value.since === "string" ? value.since : "?",
        };
      }
    } catch {
      // fall through
    }
    return "unreadable";
  }

  private isStale(holder: LockHolder | "unreadable"): boolean {
    if (holder === "unreadable") {
      try {
        const stat = this.io.lstatSync(this.path);
        return stat !== undefined && Date.now() - stat.mtimeMs > UNREADABLE_STALE_MS;
      } catch {
        return false;
      }
    }
    if (holder.host !== os.hostname()) return false;
    const boot = currentBootId();
    if (holder.boot !== null && boot !== null && holder.boot !== boot) return true;
    if (holder.pid === process.pid) return holder.thread === threadId;
    try {
      process.kill(holder.pid, 0);
      return false;
    } catch (error) {
      return errnoOf(error) === "ESRCH";
    }
  }

  /**
   * Removes a stale lock. It is first renamed aside, so that of several processes breaking it at
   * once exactly one succeeds; if what was moved turns out to be a fresh lock that replaced the
   * stale one meanwhile, it is put back.
   */
  private breakStale(seen: LockHolder | "unreadable"): void {
    const aside = `${this.path}.stale-${this.tag}-${++this.counter}`;
    try {
      this.io.renameSync(this.path, aside);
    } catch (error) {
      if (errnoOf(error) === "ENOENT") return;
      throw ioError(error, "take over the stale lock file", this.path);
    }
    const moved = this.readHolder(aside);
    const same = seen === "unreadable" ? typeof moved !== "object" : typeof moved === "object" && moved.nonce === seen.nonce;
    if (!same) {
      try {
        this.io.linkSync(aside, this.path);
      } catch {
        // Someone holds a newer lock already; the one we moved is released by its owner's check.
      }
    }
    unlinkQuietly(this.io, aside);
  }

  private lockedError(holder: LockHolder | undefined): CrewstateError {
    const who = holder ? `process ${holder.pid} on ${holder.host} (since ${holder.since})` : "another process";
    return new CrewstateError(
      "STORE_LOCKED",
      `${this.target} is locked by ${who}; waited ${(this.timeoutMs / 1000).toFixed(1)} s. If that process is gone, delete ${this.path}`,
      { path: this.target, lock: this.path, pid: holder?.pid, host: holder?.host },
    );
  }
}
