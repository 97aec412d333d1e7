import { CrewstateError } from "../errors.js";
import type { Inputs, JsonValue } from "../stores/store.js";

// `{name}` where name is an identifier; `{{` and `}}` stand for literal braces.
const PLACEHOLDER = /\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_.-]*)\}/g;

/** The placeholder names a template uses, in order of first use. */
export function placeholdersOf(template: string): string[] {
  const names = new Set<string>();
  for (const match of template.matchAll(PLACEHOLDER)) if (match[1]) names.add(match[1]);
  return [...names];
}

/**
 * Fills `{placeholder}`s from `inputs`. A placeholder without a value is an error naming it and
 * where it was used, raised before anything runs.
 */
export function interpolate(template: string, inputs: Readonly<Inputs>, where: string): string {
  return template.replace(PLACEHOLDER, (whole, name: string | undefined) => {
    if (whole === "{{") return "{";
    if (whole === "}}") return "}";
    const value = inputs[name!];
    if (value === undefined || !Object.hasOwn(inputs, name!)) {
      const known = Object.keys(inputs);
      throw new CrewstateError(
        "MISSING_INPUT",
        `${where} uses {${name}} but no input ${JSON.stringify(name)} was given; pass --input ${name}=… (${known.length ? `given: ${known.map((k) => JSON.stringify(k)).join(", ")}` : "no inputs given"})`,
        { input: name, where },
      );
    }
    return inputText(value);
  });
}

/** An input as a prompt shows it, as CrewAI does: text as it is, a number as its decimal text, anything else as JSON. */
export function inputText(value: JsonValue): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}
