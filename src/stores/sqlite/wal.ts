import { readFileSync } from "node:fs";

/**
 * Reads a SQLite `-wal` file (and its `-shm` index) the way SQLite's recovery will, to say which
 * committed transactions it is about to drop. SQLite replays WAL frames up to the first one whose
 * salts or cumulative checksum do not check out and keeps only the frames up to the last commit
 * before it; everything after is silently ignored, and overwritten by the next write. See
 * https://www.sqlite.org/fileformat2.html#walformat.
 *
 * Must run before anything opens the database: a connection's recovery rebuilds the `-shm` index
 * from the intact prefix, and the next write overwrites the dropped frames.
 */

const WAL_HEADER_BYTES = 32;
const FRAME_HEADER_BYTES = 24;
const WAL_MAGIC = 0x377f0682;
const WAL_VERSION = 3007000;
/** Where the first copy of the wal-index header keeps `mxFrame` and the salts (native byte order). */
const SHM_MX_FRAME = 16;
const SHM_SALTS = 32;
const SHM_HEADER_BYTES = 48;

export interface WalScan {
  /** Frames wholly present in the file. */
  frames: number;
  /** Frames SQLite will keep: the intact prefix, up to its last commit frame. */
  keptFrames: number;
  /** Commits SQLite will keep. */
  keptCommits: number;
  /** One sentence per problem; empty when SQLite will keep every committed frame. */
  problems: string[];
}

type Checksum = [number, number];

/** Scans `<db>-wal`; undefined when there is none (or it is empty: nothing to replay). */
export function scanWal(dbPath: string): WalScan | undefined {
  const wal = readOrUndefined(`${dbPath}-wal`);
  if (wal === undefined || wal.length === 0) return undefined;
  const shm = readOrUndefined(`${dbPath}-shm`);
  return scanWalBytes(wal, shm, `${dbPath}-wal`);
}

export function scanWalBytes(wal: Buffer, shm: Buffer | undefined, name: string): WalScan {
  const scan: WalScan = { frames: 0, keptFrames: 0, keptCommits: 0, problems: [] };
  if (wal.length < WAL_HEADER_BYTES) {
    scan.problems.push(`${name} is ${wal.length} bytes, shorter than a WAL header: SQLite ignores it, and any commits it held are lost`);
    return scan;
  }
  const magic = wal.readUInt32BE(0);
  const bigEndian = (magic & 1) === 1;
  const pageSize = wal.readUInt32BE(8);
  const headerSum = checksum(wal, 0, 24, [0, 0], bigEndian);
  const validHeader =
    (magic & ~1) === WAL_MAGIC &&
    wal.readUInt32BE(4) === WAL_VERSION &&
    pageSize >= 512 &&
    pageSize <= 65536 &&
    (pageSize & (pageSize - 1)) === 0 &&
    headerSum[0] === wal.readUInt32BE(24) &&
    headerSum[1] === wal.readUInt32BE(28);
  if (!validHeader) {
    scan.problems.push(`${name} has a damaged header: SQLite ignores the whole file (${wal.length} bytes), and every commit in it is lost`);
    return scan;
  }
  const frameBytes = FRAME_HEADER_BYTES + pageSize;
  scan.frames = Math.floor((wal.length - WAL_HEADER_BYTES) / frameBytes);
  const salts = wal.subarray(16, 24);
  const saltsMatch = (at: number) => wal.subarray(at + 8, at + 16).equals(salts);
  const commitAt = (at: number) => wal.readUInt32BE(at + 4) !== 0;
  const frameSum = (at: number, from: Checksum) => checksum(wal, at + FRAME_HEADER_BYTES, pageSize, checksum(wal, at, 8, from, bigEndian), bigEndian);
  const storedSum = (at: number): Checksum => [wal.readUInt32BE(at + 16), wal.readUInt32BE(at + 20)];

  // The intact prefix, as SQLite's recovery reads it.
  let running: Checksum = headerSum;
  let intact = 0;
  for (let i = 0; i < scan.frames; i++) {
    const at = WAL_HEADER_BYTES + i * frameBytes;
    if (!saltsMatch(at)) break;
    const sum = frameSum(at, running);
    const [s0, s1] = storedSum(at);
    if (sum[0] !== s0 || sum[1] !== s1) break;
    running = sum;
    intact = i + 1;
    if (commitAt(at)) {
      scan.keptFrames = intact;
      scan.keptCommits++;
    }
  }

  // After it: frames of this WAL generation (its salts) are writes SQLite will drop. Frames with
  // other salts are leftovers of an earlier generation, overwritten in place from frame 1: normal
  // after the prefix, unless a frame of this generation follows them.
  let droppedFrames = 0;
  let droppedCommits = 0;
  for (let i = intact; i < scan.frames; i++) {
    const at = WAL_HEADER_BYTES + i * frameBytes;
    if (!saltsMatch(at)) continue;
    droppedFrames++;
    if (commitAt(at)) droppedCommits++;
  }
  if (droppedFrames > 0) {
    const cause = saltsMatch(WAL_HEADER_BYTES + intact * frameBytes) ? "fails its checksum" : "has damaged salts";
    const commits = droppedCommits > 0 ? `, ${droppedCommits} of them commit frames` : "";
    scan.problems.push(
      `${name}: frame ${intact + 1} of ${scan.frames} ${cause}; SQLite keeps the ${scan.keptCommits} commit(s) before it and drops ${droppedFrames} frame(s) from there on${commits}`,
    );
  }

  const tail = (wal.length - WAL_HEADER_BYTES) % frameBytes;
  if (tail !== 0) {
    scan.problems.push(`${name} ends in a torn frame (${tail} of ${frameBytes} bytes): the file was cut short, and the transaction that frame belonged to is lost`);
  }

  // The wal-index remembers how many frames were committed; more than survive means lost commits.
  if (shm !== undefined && shm.length >= SHM_HEADER_BYTES * 2 && shm.subarray(0, SHM_HEADER_BYTES).equals(shm.subarray(SHM_HEADER_BYTES, SHM_HEADER_BYTES * 2))) {
    const recorded = shm.readUInt32LE(SHM_MX_FRAME);
    if (shm.subarray(SHM_SALTS, SHM_SALTS + 8).equals(salts) && recorded > scan.keptFrames) {
      scan.problems.push(
        `${name}: its index (-shm) records ${recorded} committed frame(s), but only ${scan.keptFrames} are intact; SQLite drops the committed frames ${scan.keptFrames + 1}-${recorded}`,
      );
    }
  }
  return scan;
}

/** SQLite's WAL checksum over `length` bytes (a multiple of 8) from `start`, continuing `from`. */
function checksum(bytes: Buffer, start: number, length: number, from: Checksum, bigEndian: boolean): Checksum {
  let s0 = from[0];
  let s1 = from[1];
  for (let at = start; at < start + length; at += 8) {
    const x0 = bigEndian ? bytes.readUInt32BE(at) : bytes.readUInt32LE(at);
    const x1 = bigEndian ? bytes.readUInt32BE(at + 4) : bytes.readUInt32LE(at + 4);
    s0 = (s0 + x0 + s1) >>> 0;
    s1 = (s1 + x1 + s0) >>> 0;
  }
  return [s0, s1];
}

function readOrUndefined(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}
