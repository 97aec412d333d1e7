import type { Flow } from "../../flow/flow.js";
import { runFlow } from "../../flow/run-flow.js";
import { CrewstateError, quote } from "../../errors.js";
import { defaultLogger } from "../../log.js";
import { shownUrl } from "../../redact.js";
import { storeUrlFrom } from "../../stores/open.js";
import type { Inputs } from "../../stores/store.js";
import { guardedExit } from "../exit-guard.js";
import { createRunView } from "../view/run-view.js";
import { money } from "../format.js";
import type { RunOptions } from "./run-options.js";

/** `crewstate run` of a module whose default export is a Flow. */
export async function runFlowFromCli(flow: Flow<any>, module: string, inputs: Inputs, options: RunOptions): Promise<void> {
  const crewOnly = (["replayFrom", "maxTokens", "maxCost"] as const).filter((key) => options[key] !== undefined);
  if (crewOnly.length > 0) {
    const flags = crewOnly.map((key) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(", ");
    throw new CrewstateError("INVALID_INPUT", `${flags} ${crewOnly.length > 1 ? "apply" : "applies"} to a crew's run; ${quote(module)} is a flow: give its crews a budget in code (ctx.kickoff(crew, { budget }))`, { path: module });
  }
  const store = options.store ?? flow.store ?? storeUrlFrom();
  const view = options.json ? undefined : createRunView(process.stdout, { mode: options.quiet ? "quiet" : options.verbose ? "verbose" : "normal", stream: options.stream === true });
  let result: Awaited<ReturnType<typeof runFlow>>;
  try {
    result = await guardedExit(`flow module ${quote(module)}`, "while the flow ran", () =>
      runFlow(flow, {
        // No inputs given: a resumed run keeps its own.
        inputs: Object.keys(inputs).length > 0 ? inputs : undefined,
        runId: options.runId,
        store,
        model: options.model,
        logger: defaultLogger(process.env.CREWSTATE_LOG_LEVEL ?? "silent"),
        observers: view ? [view] : [],
      }),
    );
  } finally {
    view?.close();
  }
  const text = typeof result.result === "string" ? result.result : JSON.stringify(result.result, null, 2);
  if (options.quiet) {
    process.stdout.write(`${text}\n`);
    return;
  }
  if (options.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  const count = (outcome: string) => result.steps.filter((s) => s.outcome === outcome).length;
  const say = (line: string) => process.stdout.write(`${line}\n`);
  say(
    `flow run ${result.runId} ${result.status}: ${count("ran")} step(s) ran, ${count("rerun")} rerun, ${count("reused")} reused · ` +
      `${result.calls.made} model/tool call(s) made, ${result.calls.replayed} replayed · tokens in ${result.usage.inputTokens} / out ${result.usage.outputTokens}${money(result.usage.costUsd)}`,
  );
  const storeFlag = options.store ? ` --store ${shownUrl(options.store)}` : "";
  if (result.awaiting !== null) {
    const step = result.awaiting.includes("/") ? null : result.awaiting.replace(/#\d+$/, "");
    say(
      step === null
        ? `waiting for review in child run ${result.awaiting}: approve it with \`crewstate approve\`, then run again`
        : `step ${result.awaiting} waits for feedback: \`crewstate feedback ${result.runId} ${step}${storeFlag} --text "…"\` (or --approve / --reject), then run again`,
    );
  }
  say(`state: ${result.store} · inspect with: crewstate show ${result.runId}${storeFlag}`);
  if (result.status === "completed") say(`\n--- state ---\n${JSON.stringify(result.state, null, 2)}`);
}
