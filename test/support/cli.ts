/**
 * Spawning the real `crewstate` binary (`node bin/crewstate.js …`) from tests, and the throwaway
 * workspaces its crew modules live in.
 *
 * The binary runs `dist/cli/main.js`: `npm test` builds first (`pretest`); a bare `npx vitest` needs
 * `npm run build` before it, and `assertBuilt()` says so instead of failing obscurely.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { TestContext } from "vitest";

export const REPO_ROOT = path.resolve(fileURLToPath(new URL("../..", import.meta.url)));
export const BIN = path.join(REPO_ROOT, "bin", "crewstate.js");

export interface CliResult {
  /** Exit code, or null when a signal ended the process. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time of the process, in ms. */
  ms: number;
}

export interface CliOptions {
  /** Working folder of the process; default the repo root. */
  cwd?: string;
  /** Extra environment, laid over a copy of this process's with every OPENAI_* and CREWSTATE_* variable removed. */
  env?: Record<string, string | undefined>;
  /** Kill the process (SIGKILL) and fail after this long; default 45 s (a guard against hangs, not a performance bound). */
  timeoutMs?: number;
}

/** Throws a clear error when the package has not been built. */
export function assertBuilt(): void {
  const entry = path.join(REPO_ROOT, "dist", "cli", "main.js");
  if (!existsSync(entry)) {
    throw new Error(`${entry} is missing: the CLI tests spawn the built binary; run \`npm run build\` (npm test does it in pretest)`);
  }
}

/** The environment a spawned CLI gets: this process's, minus anything that would change crewstate's choices, plus `extra`. */
export function cliEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(OPENAI_|CREWSTATE_)/.test(key) || key.startsWith("VITEST") || key === "NODE_OPTIONS") continue;
    env[key] = value;
  }
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** A running CLI process. */
export class CliProcess {
  stdout = "";
  stderr = "";
  readonly done: Promise<CliResult>;
  private readonly child: ChildProcess;
  private watchers: { pattern: RegExp; resolve: () => void }[] = [];

  constructor(args: string[], options: CliOptions = {}) {
    assertBuilt();
    const started = Date.now();
    this.child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd ?? REPO_ROOT,
      env: cliEnv(options.env),
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      this.stdout += chunk;
      this.watchers = this.watchers.filter((w) => {
        if (!w.pattern.test(this.stdout)) return true;
        w.resolve();
        return false;
      });
    });
    this.child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (this.stderr += chunk));
    const timeoutMs = options.timeoutMs ?? 45_000;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      this.child.kill("SIGKILL");
    }, timeoutMs);
    this.done = new Promise<CliResult>((resolve, reject) => {
      this.child.on("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
      this.child.on("close", (code, signal) => {
        clearTimeout(timer);
        if (timedOut) {
          reject(new Error(`crewstate ${args.join(" ")} did not finish within ${timeoutMs} ms\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`));
          return;
        }
        resolve({ code, signal, stdout: this.stdout, stderr: this.stderr, ms: Date.now() - started });
      });
    });
    // Keep an unawaited failure from becoming an unhandled rejection; `done` still rejects for whoever awaits it.
    this.done.catch(() => {});
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Resolves once stdout (so far) matches `pattern`; rejects if the process ends first. */
  waitForStdout(pattern: RegExp): Promise<void> {
    if (pattern.test(this.stdout)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.watchers.push({ pattern, resolve });
      this.done.then(
        (result) => reject(new Error(`crewstate exited (code ${result.code}) before stdout matched ${pattern}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`)),
        reject,
      );
    });
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    this.child.kill(signal);
  }
}

/** Runs the CLI to the end. */
export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  return new CliProcess(args, options).done;
}

/**
 * Runs the CLI and SIGKILLs it as soon as its stdout matches `killWhen` (after `beforeKill`, if
 * given, has resolved — e.g. waiting for the fake server to receive a request). Rejects if the
 * process ends before the pattern shows up.
 */
export async function runCliUntil(
  args: string[],
  options: CliOptions & { killWhen: RegExp; beforeKill?: () => Promise<void> },
): Promise<CliResult> {
  const cli = new CliProcess(args, options);
  try {
    await cli.waitForStdout(options.killWhen);
    if (options.beforeKill) await options.beforeKill();
  } finally {
    cli.kill("SIGKILL"); // also when waiting failed: never leave the process behind
  }
  return cli.done;
}

/**
 * A throwaway folder under the OS temp dir in which crew modules can `import … from "crewstate"`:
 * it holds a `package.json` with `"type": "module"` and `node_modules/crewstate` linked to this
 * repo (the package resolves through its own `exports`, i.e. dist/).
 */
export class Workspace {
  readonly dir: string;

  /**
   * `link` names more packages of this repo's node_modules to make importable (e.g. "ai", "zod");
   * `type` is the workspace package's module type (default "module").
   */
  constructor(options: { prefix?: string; link?: string[]; type?: "module" | "commonjs" } = {}) {
    this.dir = mkdtempSync(path.join(os.tmpdir(), options.prefix ?? "crewstate-cli-"));
    const pkg = { name: "crewstate-cli-test", private: true, type: options.type ?? "module" };
    writeFileSync(path.join(this.dir, "package.json"), `${JSON.stringify(pkg)}\n`);
    mkdirSync(path.join(this.dir, "node_modules"));
    symlinkSync(REPO_ROOT, path.join(this.dir, "node_modules", "crewstate"), "dir");
    for (const name of options.link ?? []) {
      const target = path.join(REPO_ROOT, "node_modules", name);
      if (!existsSync(target)) throw new Error(`cannot link package "${name}" into the workspace: ${target} does not exist`);
      const link = path.join(this.dir, "node_modules", name);
      mkdirSync(path.dirname(link), { recursive: true });
      symlinkSync(target, link, "dir");
    }
  }

  path(...parts: string[]): string {
    return path.join(this.dir, ...parts);
  }

  /** Writes a file in the workspace and returns its absolute path. */
  write(name: string, text: string | Buffer): string {
    const file = this.path(name);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text);
    return file;
  }

  /** Runs the CLI with this workspace as its working folder. */
  run(args: string[], options: CliOptions = {}): Promise<CliResult> {
    return runCli(args, { cwd: this.dir, ...options });
  }

  start(args: string[], options: CliOptions = {}): CliProcess {
    return new CliProcess(args, { cwd: this.dir, ...options });
  }

  /** Every file in the workspace (node_modules aside) with the sha256 of its bytes, by relative path. */
  snapshot(): Record<string, string> {
    const files: Record<string, string> = {};
    for (const entry of readdirSync(this.dir, { recursive: true, withFileTypes: true })) {
      const file = path.join(entry.parentPath, entry.name);
      const relative = path.relative(this.dir, file);
      if (relative.split(path.sep)[0] === "node_modules" || !entry.isFile()) continue;
      files[relative] = sha256File(file);
    }
    return files;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A workspace for the test whose context is given (so it works in concurrent tests): removed when
 * the test passes, kept (and its path printed) when it fails, so the state can be inspected.
 */
export function testWorkspace(context: Pick<TestContext, "onTestFinished">, options: { link?: string[]; type?: "module" | "commonjs" } = {}): Workspace {
  const ws = new Workspace(options);
  context.onTestFinished(({ task }) => {
    if (task.result?.state === "fail") process.stderr.write(`kept the workspace of failed test "${task.name}": ${ws.dir}\n`);
    else ws.remove();
  });
  return ws;
}

export function sha256File(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

/** The lines of a text, without the trailing empty one. */
export function linesOf(text: string): string[] {
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}
