import type { Flow, Step } from "./flow.js";
import { sourceNames } from "./triggers.js";

/**
 * The flow's graph as Mermaid text: start steps from a start node, a router as a rhombus with an
 * edge per label, a feedback step as a parallelogram, and the sources of an `and` joined by "and".
 */
export function plotFlow(flow: Flow): string {
  flow.check();
  const routersOf = new Map<string, string[]>();
  for (const router of flow.steps.filter((s) => s.kind === "router")) {
    for (const label of router.routes) routersOf.set(label, [...(routersOf.get(label) ?? []), router.name]);
  }
  const id = (name: string) => `s_${name.replace(/-/g, "_")}`;
  const lines = ["flowchart TD", "  START((start))"];
  for (const step of flow.steps) lines.push(`  ${id(step.name)}${shape(step)}`);
  for (const step of flow.steps) {
    if (step.kind === "start") lines.push(`  START --> ${id(step.name)}`);
    if (step.on === null) continue;
    const joined = step.on.mode === "and" && step.on.sources.length > 1;
    for (const source of sourceNames(step.on)) {
      const routers = routersOf.get(source);
      const label = [routers === undefined ? null : source, joined ? "and" : null].filter((l) => l !== null).join(" · ");
      for (const from of routers ?? [source]) lines.push(`  ${id(from)} ${label === "" ? "-->" : `-- "${label}" -->`} ${id(step.name)}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

function shape(step: Step<any>): string {
  const text = JSON.stringify(step.name);
  switch (step.kind) {
    case "router":
      return `{${text}}`;
    case "feedback":
      return `[/${text}/]`;
    default:
      return `[${text}]`;
  }
}
