import { closeSync, constants, fstatSync, openSync, readFileSync } from "node:fs";
import { CrewstateError, messageOf, quote } from "../errors.js";
import { MAX_PAYLOAD_BYTES } from "../stores/codec.js";

/**
 * The text of a file the user hands the CLI as input (`--input key=@file`, `--inputs file.json`,
 * `edit --file`). Only a regular file no larger than a store payload is read: a device such as
 * /dev/zero, a FIFO or a folder would hang or never end, and a bigger file could not be stored.
 * `what` names the option in messages, e.g. `input "notes"`.
 */
export function readInputFile(file: string, what: string): string {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO nobody writes to returns at once instead of waiting for a writer.
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw new CrewstateError("INVALID_INPUT", `${what} names file ${quote(file)}, which cannot be read: ${messageOf(error)}`, { path: file });
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) {
      const kind = stat.isDirectory() ? "a folder" : stat.isFIFO() ? "a FIFO" : stat.isSocket() ? "a socket" : "a device";
      throw new CrewstateError("INVALID_INPUT", `${what} names ${quote(file)}, which is not a regular file but ${kind}; give a file`, { path: file });
    }
    if (stat.size > MAX_PAYLOAD_BYTES) {
      throw new CrewstateError(
        "PAYLOAD_TOO_LARGE",
        `${what} names file ${quote(file)} of ${stat.size} bytes; the limit is ${MAX_PAYLOAD_BYTES} bytes`,
        { path: file },
      );
    }
    return readFileSync(fd, "utf8");
  } finally {
    closeSync(fd);
  }
}
