import { writeSync } from "node:fs";

/** Runs `work` under `guardExit(subject, phase)`, released however it ends. */
export async function guardedExit<T>(subject: string, phase: string, work: () => Promise<T>): Promise<T> {
  const release = guardExit(subject, phase);
  try {
    return await work();
  } finally {
    release();
  }
}

/**
 * Watches for a crew module ending the process behind crewstate's back while `subject` is at work
 * (`phase`, e.g. "while it was loading"): a `process.exit()` call, or top-level code awaiting a
 * promise nothing will settle, so the event loop runs empty and Node would leave silently with 0.
 * Either way one line on stderr says what happened, and the exit code is not 0. Returns the release.
 */
export function guardExit(subject: string, phase: string): () => void {
  const realExit = process.exit;
  let called: string | number | null | undefined;
  let calledExit = false;
  process.exit = ((code?: string | number | null) => {
    calledExit = true;
    called = code;
    return realExit.call(process, code);
  }) as typeof process.exit;
  const onExit = (code: number) => {
    const what = calledExit
      ? `${subject} called process.exit(${called ?? ""}) ${phase}; a crew must not end the process`
      : `${subject} never settled ${phase}: it awaits something nothing will ever resolve, and the event loop ran empty`;
    // Synchronous: nothing asynchronous runs any more once the process is exiting.
    writeSync(2, `crewstate: ${what}\n`);
    if (code === 0) process.exitCode = 1;
  };
  process.on("exit", onExit);
  return () => {
    process.exit = realExit;
    process.off("exit", onExit);
  };
}
