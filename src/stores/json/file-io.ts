import fs from "node:fs";
import path from "node:path";
import { CrewstateError } from "../../errors.js";

/**
 * The few synchronous file-system calls the JSON file store makes, as a seam: tests pass a copy
 * with a failing `fsyncSync` or `writeSync` to prove that an I/O error is reported, not trusted.
 */
export type FileIo = Pick<
  typeof fs,
  | "openSync"
  | "closeSync"
  | "readSync"
  | "writeSync"
  | "fsyncSync"
  | "fstatSync"
  | "lstatSync"
  | "renameSync"
  | "unlinkSync"
  | "linkSync"
  | "mkdirSync"
  | "chmodSync"
  | "fchmodSync"
  | "ftruncateSync"
  | "readdirSync"
>;

export const nodeIo: FileIo = fs;

const C = fs.constants;
/** Never follow a symlink planted where a state file belongs (O_NOFOLLOW is 0 where unsupported). */
const NOFOLLOW = C.O_NOFOLLOW ?? 0;
/**
 * O_NONBLOCK: opening a FIFO planted where a state file belongs must not wait for a writer (or a
 * reader); it opens at once and `fstat` then refuses it. On a regular file the flag does nothing.
 */
const NONBLOCK = C.O_NONBLOCK ?? 0;
export const READ = C.O_RDONLY | NOFOLLOW | NONBLOCK;
export const APPEND = C.O_WRONLY | C.O_APPEND | C.O_CREAT | NOFOLLOW | NONBLOCK;
export const CREATE_NEW = C.O_WRONLY | C.O_CREAT | C.O_EXCL | NOFOLLOW;

export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

export function errnoOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** Maps a file-system failure to STORE_UNAVAILABLE, saying what was being done to which file. */
export function ioError(error: unknown, doing: string, file: string): CrewstateError {
  if (error instanceof CrewstateError) return error;
  const code = errnoOf(error);
  if (code === "ELOOP") return symlinkError(file, error);
  const why = code ? `${code}: ${describe(code)}` : (error as Error)?.message ?? String(error);
  return new CrewstateError("STORE_UNAVAILABLE", `could not ${doing} ${file} (${why}); the operation was not applied`, { path: file, errno: code }, { cause: error });
}

export function symlinkError(file: string, cause?: unknown): CrewstateError {
  return new CrewstateError(
    "STORE_UNAVAILABLE",
    `${file} is a symbolic link; the JSON store refuses to follow links for its files — point json: at the real file`,
    { path: file },
    cause === undefined ? undefined : { cause },
  );
}

/** A FIFO, socket, device or folder where one of the store's files belongs. */
export function notRegularError(file: string): CrewstateError {
  return new CrewstateError(
    "STORE_UNAVAILABLE",
    `${file} is not a regular file; the JSON store reads and writes only regular files — move it aside or point json: elsewhere`,
    { path: file },
  );
}

/** Refuses a link or anything else that is not a regular file (a stat taken without following links). */
export function assertRegular(stat: fs.BigIntStats | fs.Stats, file: string): void {
  if (stat.isSymbolicLink()) throw symlinkError(file);
  if (!stat.isFile()) throw notRegularError(file);
}

function describe(code: string): string {
  switch (code) {
    case "ENOSPC":
      return "no space left on the device";
    case "EIO":
      return "I/O error; the data may not be on disk";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EROFS":
      return "read-only file system";
    case "EDQUOT":
      return "disk quota exceeded";
    case "ENOENT":
      return "no such file or directory";
    case "ENOTDIR":
      return "a parent is not a directory";
    default:
      return "file-system error";
  }
}

/** Whether an error only says we may not write here (a read-only folder or file system). */
export function isReadOnlyError(error: unknown): boolean {
  const codes = [errnoOf(error), errnoOf((error as { cause?: unknown } | null)?.cause)];
  return codes.some((code) => code === "EACCES" || code === "EPERM" || code === "EROFS");
}

export function lstatOrNull(io: FileIo, file: string): fs.BigIntStats | null {
  try {
    return io.lstatSync(file, { bigint: true }) ?? null;
  } catch (error) {
    if (errnoOf(error) === "ENOENT") return null;
    throw ioError(error, "inspect", file);
  }
}

export interface ReadResult {
  bytes: Buffer;
  stat: fs.BigIntStats;
}

/** Reads a whole regular file (or its tail from `offset`) without following a link; null when absent. */
export function readFile(io: FileIo, file: string, offset = 0): ReadResult | null {
  let fd: number;
  try {
    fd = io.openSync(file, READ);
  } catch (error) {
    if (errnoOf(error) === "ENOENT") return null;
    throw ioError(error, "open", file);
  }
  try {
    const stat = io.fstatSync(fd, { bigint: true });
    if (!stat.isFile()) throw notRegularError(file);
    const size = Math.max(0, Number(stat.size) - offset);
    const bytes = Buffer.allocUnsafe(size);
    let filled = 0;
    while (filled < size) {
      const n = io.readSync(fd, bytes, filled, size - filled, offset + filled);
      if (n === 0) break; // shrank while we read: what we have is what there is
      filled += n;
    }
    return { bytes: filled === size ? bytes : bytes.subarray(0, filled), stat };
  } catch (error) {
    throw ioError(error, "read", file);
  } finally {
    closeQuietly(io, fd);
  }
}

export function writeAll(io: FileIo, fd: number, bytes: Uint8Array): void {
  let written = 0;
  while (written < bytes.length) written += io.writeSync(fd, bytes, written, bytes.length - written);
}

export function closeQuietly(io: FileIo, fd: number): void {
  try {
    io.closeSync(fd);
  } catch {
    // Closing a descriptor we are done with: what mattered (fsync) was checked already.
  }
}

export function unlinkQuietly(io: FileIo, file: string): void {
  try {
    io.unlinkSync(file);
  } catch {
    // Best effort: a leftover temp file is cleaned on the next open.
  }
}

/** fsync a folder so that a rename or a new file in it survives power loss. */
export function fsyncDir(io: FileIo, dir: string): void {
  let fd: number;
  try {
    fd = io.openSync(dir, C.O_RDONLY);
  } catch (error) {
    throw ioError(error, "open the folder", dir);
  }
  try {
    io.fsyncSync(fd);
  } catch (error) {
    // Some file systems cannot fsync a folder at all; anything else is a real failure.
    if (errnoOf(error) !== "EINVAL" && errnoOf(error) !== "ENOTSUP") throw ioError(error, "fsync the folder", dir);
  } finally {
    closeQuietly(io, fd);
  }
}

/** Creates `dir` and any missing parents, each 0700 whatever the umask. */
export function mkdirPrivate(io: FileIo, dir: string): void {
  const missing: string[] = [];
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    const stat = lstatOrNull(io, d);
    if (stat) break;
    missing.push(d);
    if (path.dirname(d) === d) break;
  }
  for (const d of missing.reverse()) {
    try {
      io.mkdirSync(d, { mode: DIR_MODE });
      io.chmodSync(d, DIR_MODE);
    } catch (error) {
      if (errnoOf(error) !== "EEXIST") throw ioError(error, "create the folder", d);
    }
  }
}

/**
 * Writes `bytes` to a new temp file beside `target` (0600, fsynced) and returns its path; the
 * temp file is removed if anything fails.
 */
export function writeTemp(io: FileIo, target: string, bytes: Uint8Array, suffix: string): string {
  const tmp = `${target}.tmp-${suffix}`;
  let fd: number | undefined;
  try {
    fd = io.openSync(tmp, CREATE_NEW, FILE_MODE);
    io.fchmodSync(fd, FILE_MODE);
    writeAll(io, fd, bytes);
    io.fsyncSync(fd);
  } catch (error) {
    if (fd !== undefined) closeQuietly(io, fd);
    unlinkQuietly(io, tmp);
    throw ioError(error, "write a temporary copy of", target);
  }
  try {
    io.closeSync(fd);
  } catch (error) {
    unlinkQuietly(io, tmp);
    throw ioError(error, "write a temporary copy of", target);
  }
  return tmp;
}
