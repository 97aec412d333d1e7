/**
 * Output written into a pipe whose reader is slow arrives whole: the binary must not exit before
 * stdout has drained (it once left ~50 ms after `main()` returned, cutting `export` of a big run
 * short with exit 0). Each command's piped bytes are compared with the same command written to a file.
 */
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertBuilt, BIN, cliEnv, Workspace } from "../support/cli.js";
import { SQLITE, TWO_STEP } from "./crews.js";

/** Reads stdin in small bites with a pause between them, then writes what it got to the file argv[1]. */
const SLOW_READER = `
const fs = require("node:fs");
const chunks = [];
process.stdin.on("data", (chunk) => {
  chunks.push(chunk);
  process.stdin.pause();
  setTimeout(() => process.stdin.resume(), 2);
});
process.stdin.on("end", () => fs.writeFileSync(process.argv[1], Buffer.concat(chunks)));
`;

let ws: Workspace;
let store: string;

beforeAll(async () => {
  assertBuilt();
  ws = new Workspace({ prefix: "crewstate-pipe-" });
  const crew = ws.write("crew.ts", TWO_STEP);
  // About 15 MB of inputs (three values under the 16 MiB payload limit together).
  const text = (n: number) => `${"Policy PN-12345, kitchen flooded after a pipe burst. ".repeat(n)}`;
  const inputs = ws.write("inputs.json", JSON.stringify({ notes: text(90_000), appendix: text(90_000), photos: text(90_000) }));
  const result = await ws.run(["run", crew, "--run-id", "big", "--inputs", inputs, "--store", SQLITE.url(ws), "--model", "demo"], { timeoutMs: 120_000 });
  expect(result.code, result.stderr).toBe(0);
  store = SQLITE.url(ws);
}, 180_000);
afterAll(() => ws?.remove());

/** Runs the CLI with stdout redirected to `file`; resolves to its exit code. */
function toFile(args: string[], file: string): Promise<number | null> {
  const fd = openSync(file, "w");
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ws.dir, env: cliEnv(), stdio: ["ignore", fd, "inherit"] });
  closeSync(fd);
  return new Promise((resolve, reject) => child.on("error", reject).on("close", resolve));
}

/** Runs the CLI piped into SLOW_READER, which saves what it read to `file`; resolves to the CLI's exit code. */
async function throughSlowPipe(args: string[], file: string): Promise<number | null> {
  const reader = spawn(process.execPath, ["-e", SLOW_READER, file], { stdio: ["pipe", "inherit", "inherit"] });
  const cli = spawn(process.execPath, [BIN, ...args], { cwd: ws.dir, env: cliEnv(), stdio: ["ignore", "pipe", "inherit"] });
  cli.stdout!.pipe(reader.stdin!);
  const [code] = await Promise.all([
    new Promise<number | null>((resolve, reject) => cli.on("error", reject).on("close", resolve)),
    new Promise<void>((resolve, reject) => reader.on("error", reject).on("close", () => resolve())),
  ]);
  return code;
}

describe("output into a slow pipe", () => {
  for (const args of [["export", "big"], ["show", "big", "--json"]]) {
    it(`\`${args.join(" ")}\` of a ~15 MB run arrives whole, byte for byte as written to a file`, async () => {
      const name = args[0]!;
      expect(await toFile([...args, "--store", store], ws.path(`${name}.file`))).toBe(0);
      expect(await throughSlowPipe([...args, "--store", store], ws.path(`${name}.pipe`))).toBe(0);
      const whole = readFileSync(ws.path(`${name}.file`));
      const piped = readFileSync(ws.path(`${name}.pipe`));
      expect(whole.length).toBeGreaterThan(14_000_000);
      expect(piped.length).toBe(whole.length);
      expect(piped.equals(whole)).toBe(true);
    }, 120_000);
  }
});
