import { CrewstateError, messageOf, quote } from "../errors.js";
import type { Inputs } from "../stores/store.js";
import { readInputFile } from "./read-input-file.js";

const KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/**
 * Kickoff inputs from `--inputs file.json` (a JSON object: text, numbers, flags, lists, objects)
 * overlaid with each `--input key=value` or `--input key=@file` (text).
 */
export function parseInputs(pairs: string[] = [], inputsFile?: string): Inputs {
  // A map, not an object: "__proto__" is a key like any other.
  const inputs = new Map<string, Inputs[string]>();
  if (inputsFile !== undefined) {
    const parsed = readJson(inputsFile);
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new CrewstateError("INVALID_INPUT", `inputs file ${quote(inputsFile)} must hold a JSON object, not ${Array.isArray(parsed) ? "an array" : parsed === null ? "null" : typeof parsed}`, { path: inputsFile });
    }
    for (const [key, value] of Object.entries(parsed as Inputs)) {
      if (!KEY.test(key)) {
        throw new CrewstateError("INVALID_INPUT", `inputs file ${quote(inputsFile)} has key ${quote(key)}; keys are letters, digits, _ . -`, { path: inputsFile });
      }
      inputs.set(key, value);
    }
  }
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    const key = eq > 0 ? pair.slice(0, eq) : "";
    if (!KEY.test(key)) {
      throw new CrewstateError("INVALID_INPUT", `--input ${quote(pair)} is not key=value or key=@file (keys are letters, digits, _ . -)`);
    }
    const value = pair.slice(eq + 1);
    inputs.set(key, value.startsWith("@") ? readInputFile(value.slice(1), `input ${quote(key)}`) : value);
  }
  return Object.fromEntries(inputs);
}

function readJson(file: string): unknown {
  const text = readInputFile(file, "--inputs");
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CrewstateError("INVALID_INPUT", `inputs file ${quote(file)} is not valid JSON: ${messageOf(error)}`, { path: file });
  }
}
