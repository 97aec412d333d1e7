/**
 * The tutorial's own persistence pattern (shared/seeds: "persisting agent state"), ported line
 * by line: `load_state()` reads `crew_state.json` or starts `{"completed_tasks": {}, "run_count":
 * 0}`, bumps `run_count` and saves; then each task that is not in `completed_tasks` runs, its
 * output is stored as a string under its name, and `save_state()` rewrites the whole file as
 * `json.dumps(state, indent=2)` would.
 *
 * Systems:
 * - `tutorial:none`: the same loop keeping the state in memory — the baseline.
 * - `tutorial:fsync`: `save_state` writes the file in place and fsyncs it before the next task,
 *   so a finished task survives power loss (a crash mid-write can still tear the file: the
 *   tutorial has no temp file + rename).
 * - `tutorial:as-written`: `save_state` exactly as the tutorial has it, `write_text` with no
 *   fsync: survives a process crash, not power loss. Up to N = 100 unless `--all`.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import path from "node:path";
import { elapsedSince, instrument, type System } from "./system.js";
import { OUTPUT_BYTES, stepName, stepOutput } from "./workload.js";

interface TutorialState {
  completed_tasks: Record<string, string | { output: string; completed_at: string }>;
  run_count: number;
}

type Save = (file: string, state: TutorialState) => void;

function loadState(file: string): TutorialState {
  if (existsSync(file)) return JSON.parse(readFileSync(file, "utf8")) as TutorialState;
  return { completed_tasks: {}, run_count: 0 };
}

const outputOf = (item: TutorialState["completed_tasks"][string]) => (typeof item === "string" ? item : item.output);

/** `run_with_resume()` for a chain of `n` tasks. */
function runWithResume(file: string, n: number, save: Save, load: (file: string) => TutorialState): string {
  const state = load(file);
  state.run_count += 1;
  save(file, state);
  let previous = "";
  for (let i = 0; i < n; i++) {
    const name = stepName(i);
    if (!(name in state.completed_tasks)) {
      state.completed_tasks[name] = stepOutput(i, previous);
      save(file, state);
    }
    previous = outputOf(state.completed_tasks[name]!);
  }
  return previous;
}

const dump = (state: TutorialState) => JSON.stringify(state, null, 2);

const saveWithFsync: Save = (file, state) => {
  const fd = openSync(file, "w");
  try {
    writeSync(fd, dump(state));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
};

const saveAsWritten: Save = (file, state) => writeFileSync(file, dump(state));

export function tutorialSystems(scratch: string): System[] {
  const family = "tutorial" as const;
  const fileOf = (id: string, tag: string) => path.join(scratch, id.replace(":", "-"), tag, "crew_state.json");
  const fileSystem = (id: string, label: string, durability: string, save: Save): System => ({
    id,
    label,
    family,
    durability,
    baseline: "tutorial:none",
    async run(n, tag) {
      const file = fileOf(id, tag);
      mkdirSync(path.dirname(file), { recursive: true });
      const persistence = { save, load: loadState };
      const meter = instrument(persistence);
      const start = process.hrtime.bigint();
      const last = runWithResume(file, n, (f, state) => persistence.save(f, state), (f) => persistence.load(f));
      const ms = elapsedSince(start);
      if (last.length !== OUTPUT_BYTES) throw new Error(`${id}: the chain returned the wrong output`);
      return { ms, insideMs: meter.ms, steps: n, bytes: statSync(file).size };
    },
    async resume(n, tag) {
      // A new process: read and parse the file, then decide every task (all completed: none runs).
      const file = fileOf(id, tag);
      const start = process.hrtime.bigint();
      const state = loadState(file);
      let pending = 0;
      for (let i = 0; i < n; i++) if (!(stepName(i) in state.completed_tasks)) pending++;
      const ms = elapsedSince(start);
      if (pending !== 0) throw new Error(`${id}: ${pending} of ${n} tasks missing from the resumed state`);
      return ms;
    },
    async discard(tag) {
      rmSync(path.dirname(fileOf(id, tag)), { recursive: true, force: true });
    },
    async close() {},
  });
  return [
    {
      id: "tutorial:none",
      label: "tutorial loop, state kept in memory",
      family,
      durability: "—",
      async run(n) {
        const start = process.hrtime.bigint();
        const last = runWithResume("", n, () => {}, () => ({ completed_tasks: {}, run_count: 0 }));
        const ms = elapsedSince(start);
        if (last.length !== OUTPUT_BYTES) throw new Error("tutorial:none: the chain returned the wrong output");
        return { ms, steps: n, bytes: 0 };
      },
      async close() {},
    },
    fileSystem("tutorial:fsync", "tutorial pattern: rewrite whole JSON + fsync", "power loss (file can tear)", saveWithFsync),
    // Context for the fsync variant, not a comparison: up to N = 100 unless `--all`.
    { ...fileSystem("tutorial:as-written", "tutorial pattern as written (no fsync)", "process crash (file can tear)", saveAsWritten), upTo: 100 },
  ];
}
