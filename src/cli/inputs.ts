import { readFileSync } from "node:fs";
import { CrewstateError, messageOf } from "../errors.js";

const KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/**
 * Kickoff inputs from `--inputs file.json` (an object of strings) overlaid with each
 * `--input key=value` or `--input key=@file`.
 */
export function parseInputs(pairs: string[] = [], inputsFile?: string): Record<string, string> {
  const inputs: Record<string, string> = {};
  if (inputsFile !== undefined) {
    const parsed = readJson(inputsFile);
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new CrewstateError("INVALID_INPUT", `inputs file "${inputsFile}" must hold a JSON object of strings`, { path: inputsFile });
    }
    for (const [key, value] of Object.entries(parsed)) {
      if (typeof value !== "string") {
        throw new CrewstateError("INVALID_INPUT", `input "${key}" in "${inputsFile}" must be a string, got ${value === null ? "null" : typeof value}`, { path: inputsFile });
      }
      inputs[key] = value;
    }
  }
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    const key = eq > 0 ? pair.slice(0, eq) : "";
    if (!KEY.test(key)) {
      throw new CrewstateError("INVALID_INPUT", `--input "${pair}" is not key=value or key=@file (keys are letters, digits, _ . -)`);
    }
    const value = pair.slice(eq + 1);
    inputs[key] = value.startsWith("@") ? readText(value.slice(1), key) : value;
  }
  return inputs;
}

function readText(file: string, key: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw new CrewstateError("INVALID_INPUT", `input "${key}" names file "${file}", which cannot be read: ${messageOf(error)}`, { path: file });
  }
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new CrewstateError("INVALID_INPUT", `inputs file "${file}" cannot be read: ${messageOf(error)}`, { path: file });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CrewstateError("INVALID_INPUT", `inputs file "${file}" is not valid JSON: ${messageOf(error)}`, { path: file });
  }
}
