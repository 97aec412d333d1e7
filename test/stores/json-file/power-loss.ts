/**
 * A simulated power loss for the JSON file store (RELIABILITY A3, after SQLite's test6.c): a
 * `FileIo` that passes every call to the real file system and keeps, beside it, what the disk
 * would hold if the power went off — each file's bytes as of its last fsync, and each folder's
 * names as of its last fsync. At a chosen call the "power" goes off: that call and every later one
 * throw. `afterPowerLoss` then writes into a new folder what a reboot would find: the names the
 * folder had when last fsynced (a create, rename or unlink since is lost), each file's fsynced
 * bytes, and over them the writes that were never fsynced — each 512- or 4096-byte sector of them
 * applied, dropped or garbled, as the seed decides.
 */
import fs from "node:fs";
import path from "node:path";
import type { FileIo } from "../../../src/stores/json/file-io.js";

export class PowerLossError extends Error {
  constructor() {
    super("the power went off");
  }
}

export interface PowerLossOptions {
  /** The file-system call (counting from 1) during which the power goes off. */
  cutAt: number;
  /** Negative control: folder fsyncs do nothing, as on a file system that ignores them. */
  ignoreFolderFsync?: boolean;
}

export class PowerLossDisk {
  /** File-system calls made so far. */
  calls = 0;
  private off = false;
  /**
   * Files by an identity of their own (inode numbers are reused as soon as a file is deleted):
   * each name in the folder → its file, each open descriptor → its file.
   */
  private nextFile = 1;
  private readonly named = new Map<string, number>();
  private readonly open = new Map<number, number>();
  /** File → its bytes as of its last fsync. */
  private readonly synced = new Map<number, Buffer>();
  /** File → its last bytes, kept when it loses its last name. */
  private readonly lastSeen = new Map<number, Buffer>();
  /** The folder's names → files, as of its last fsync. */
  private names: Map<string, number>;
  readonly io: FileIo;

  constructor(
    private readonly dir: string,
    private readonly options: PowerLossOptions,
  ) {
    for (const name of fs.readdirSync(dir)) this.named.set(name, this.nextFile++);
    this.names = new Map(this.named);
    const pass = <K extends keyof FileIo>(name: K) =>
      ((...args: unknown[]) => {
        this.tick();
        return (fs[name] as (...a: unknown[]) => unknown)(...args);
      }) as FileIo[K];
    this.io = {
      closeSync: ((fd: number) => {
        this.tick();
        this.open.delete(fd);
        fs.closeSync(fd);
      }) as FileIo["closeSync"],
      readSync: pass("readSync"),
      writeSync: pass("writeSync"),
      fstatSync: pass("fstatSync"),
      lstatSync: pass("lstatSync"),
      mkdirSync: pass("mkdirSync"),
      chmodSync: pass("chmodSync"),
      fchmodSync: pass("fchmodSync"),
      ftruncateSync: pass("ftruncateSync"),
      readdirSync: pass("readdirSync"),
      openSync: ((file: fs.PathLike, flags?: fs.OpenMode, mode?: fs.Mode) => {
        this.tick();
        const fd = fs.openSync(file, flags ?? "r", mode);
        const name = this.nameOf(file);
        if (name !== undefined) {
          if (!this.named.has(name)) this.named.set(name, this.nextFile++);
          this.open.set(fd, this.named.get(name)!);
        }
        return fd;
      }) as FileIo["openSync"],
      linkSync: ((from: fs.PathLike, to: fs.PathLike) => {
        this.tick();
        fs.linkSync(from, to);
        this.rename(from, to, true);
      }) as FileIo["linkSync"],
      renameSync: ((from: fs.PathLike, to: fs.PathLike) => {
        this.tick();
        this.keep(to);
        fs.renameSync(from, to);
        this.rename(from, to, false);
      }) as FileIo["renameSync"],
      unlinkSync: ((file: fs.PathLike) => {
        this.tick();
        this.keep(file);
        fs.unlinkSync(file);
        const name = this.nameOf(file);
        if (name !== undefined) this.named.delete(name);
      }) as FileIo["unlinkSync"],
      // Durability is what this class keeps; the real disk need not wait for it.
      fsyncSync: ((fd: number) => {
        this.tick();
        if (fs.fstatSync(fd).isDirectory()) {
          if (!this.options.ignoreFolderFsync) this.names = new Map(this.named);
        } else if (this.open.has(fd)) {
          this.synced.set(this.open.get(fd)!, fs.readFileSync(`/proc/self/fd/${fd}`));
        }
      }) as FileIo["fsyncSync"],
    };
  }

  get isOff(): boolean {
    return this.off;
  }

  /** Writes what a reboot would find into `into` (a new folder), sectors decided by `random`. */
  afterPowerLoss(into: string, random: () => number): void {
    fs.mkdirSync(into, { recursive: true });
    const sector = random() < 0.5 ? 512 : 4096;
    for (const [name, file] of this.names) {
      const current = [...this.named].find(([, f]) => f === file)?.[0];
      const volatile = current !== undefined ? fs.readFileSync(path.join(this.dir, current)) : (this.lastSeen.get(file) ?? Buffer.alloc(0));
      fs.writeFileSync(path.join(into, name), tear(this.synced.get(file) ?? Buffer.alloc(0), volatile, sector, random));
      // A reboot takes a while: nothing on the disk was modified in the last minute.
      const before = new Date(Date.now() - 60_000);
      fs.utimesSync(path.join(into, name), before, before);
    }
  }

  private tick(): void {
    if (this.off) throw new PowerLossError();
    this.calls += 1;
    if (this.calls === this.options.cutAt) {
      this.off = true;
      throw new PowerLossError();
    }
  }

  /** The name of a path in the folder; undefined for the folder itself or elsewhere. */
  private nameOf(file: fs.PathLike): string | undefined {
    const full = path.resolve(String(file));
    return path.dirname(full) === this.dir ? path.basename(full) : undefined;
  }

  private rename(from: fs.PathLike, to: fs.PathLike, keepSource: boolean): void {
    const source = this.nameOf(from);
    const target = this.nameOf(to);
    if (source === undefined || target === undefined) return;
    const file = this.named.get(source) ?? this.nextFile++;
    if (!keepSource) this.named.delete(source);
    this.named.set(target, file);
  }

  /** Keeps the bytes of a file about to lose a name, in case the folder still names it after the loss. */
  private keep(file: fs.PathLike): void {
    const name = this.nameOf(file);
    const id = name === undefined ? undefined : this.named.get(name);
    if (id === undefined) return;
    try {
      this.lastSeen.set(id, fs.readFileSync(String(file)));
    } catch {
      // Nothing there to lose.
    }
  }
}

/** The synced bytes with the unsynced ones over them: per differing sector, applied, dropped or garbage. */
function tear(synced: Buffer, volatile: Buffer, sector: number, random: () => number): Buffer {
  const longest = Math.max(synced.length, volatile.length);
  // The length the file system recorded: the synced one, the new one, or a sector boundary between.
  const lengths = [synced.length, volatile.length];
  for (let end = Math.min(synced.length, volatile.length) + sector; end < longest; end += sector) lengths.push(end);
  const length = lengths[Math.floor(random() * lengths.length)]!;
  const out = Buffer.alloc(length);
  for (let start = 0; start < length; start += sector) {
    const end = Math.min(start + sector, length);
    const mine = volatile.subarray(start, end);
    const old = synced.subarray(start, end);
    if (mine.equals(old)) {
      mine.copy(out, start);
      continue;
    }
    const fate = random();
    if (fate < 0.4) mine.copy(out, start);
    else if (fate < 0.8) old.copy(out, start);
    // Garbage only where the write went: a torn sector does not damage bytes that were already on disk.
    else for (let i = start; i < end; i++) out[i] = i < synced.length && volatile[i] === synced[i] ? synced[i]! : Math.floor(random() * 256);
  }
  return out;
}

/** A small deterministic PRNG (mulberry32), so a failing seed can be replayed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
