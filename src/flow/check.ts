import { CrewstateError, quote } from "../errors.js";
import type { Flow } from "./flow.js";
import { sourceNames } from "./triggers.js";

/** The definition errors a flow run refuses before any step runs, each in one line. */
export function checkFlow(flow: Flow): void {
  const where = `flow ${quote(flow.name)}`;
  const fail = (message: string) => {
    throw new CrewstateError("INVALID_DEFINITION", `${where}: ${message}`);
  };
  const names = new Set<string>();
  for (const step of flow.steps) {
    if (names.has(step.name)) fail(`two steps are named ${quote(step.name)}`);
    names.add(step.name);
  }
  if (!flow.steps.some((s) => s.kind === "start")) fail("has no start step (add one with flow.start)");

  // Routers may share a label ("revise" from a reviewer and from a person): it fires the same listeners.
  const labels = new Map<string, string>();
  for (const router of flow.steps.filter((s) => s.kind === "router")) {
    for (const label of router.routes) {
      if (typeof label !== "string" || label === "") fail(`router ${quote(router.name)} has an empty route label`);
      if (names.has(label)) fail(`router ${quote(router.name)}'s label ${quote(label)} is also a step's name; rename one`);
      if (!labels.has(label)) labels.set(label, router.name);
    }
  }

  const heard = new Set<string>();
  for (const step of flow.steps) {
    if (step.on === null) continue;
    if (step.on.sources.length === 0) fail(`step ${quote(step.name)} listens to an empty ${step.on.mode}()`);
    for (const source of sourceNames(step.on)) {
      if (!names.has(source) && !labels.has(source)) {
        fail(`step ${quote(step.name)} listens to ${quote(source)}, which is no step and no router's label`);
      }
      heard.add(source);
    }
  }
  for (const [label, router] of labels) {
    if (!heard.has(label)) fail(`router ${quote(router)}'s label ${quote(label)} is listened to by no step`);
  }
}
