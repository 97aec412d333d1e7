import { existsSync, statSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { CrewstateError, messageOf, quote } from "../errors.js";
import { isCrew, type Crew } from "../model/crew.js";
import { isFlow, type Flow } from "../flow/flow.js";
import { guardedExit } from "./exit-guard.js";

/** What a module's default export may be: a crew, or a flow of steps. */
export type Runnable = Crew | Flow<any>;

export function isRunnable(value: unknown): value is Runnable {
  return isCrew(value) || isFlow(value);
}

/**
 * Loads a crew or flow module: a .ts or .js file whose default export is a Crew or a Flow, or a
 * function (maybe async) returning one. TypeScript is compiled on the fly by tsx.
 */
export async function loadModule(file: string): Promise<Runnable> {
  const absolute = path.resolve(file);
  if (!existsSync(absolute) || !statSync(absolute).isFile()) {
    throw new CrewstateError("INVALID_MODULE", `module ${quote(file)} not found`, { path: file });
  }
  return guardedExit(`module ${quote(file)}`, "while it was loading", () => importModule(file, absolute));
}

async function importModule(file: string, absolute: string): Promise<Runnable> {
  let loaded: Record<string, unknown>;
  try {
    if (/\.[cm]?tsx?$/.test(absolute)) {
      const { tsImport } = await import("tsx/esm/api");
      loaded = await tsImport(pathToFileURL(absolute).href, import.meta.url);
    } else {
      loaded = await import(pathToFileURL(absolute).href);
    }
  } catch (error) {
    throw new CrewstateError("INVALID_MODULE", `module ${quote(file)} failed to load: ${messageOf(error)}`, { path: file }, { cause: error });
  }
  let value = loaded.default ?? loaded.crew;
  // A .ts module in a CommonJS package arrives as module.exports, with the default export inside.
  if (!isRunnable(value) && typeof value === "object" && value !== null && "default" in value) value = (value as { default: unknown }).default;
  if (typeof value === "function" && !isRunnable(value)) {
    try {
      value = await (value as () => unknown)();
    } catch (error) {
      throw new CrewstateError("INVALID_MODULE", `the default export of module ${quote(file)} threw: ${messageOf(error)}`, { path: file }, { cause: error });
    }
  }
  if (!isRunnable(value)) {
    const found = value === undefined ? "no default export" : `a default export of type ${typeof value}`;
    throw new CrewstateError(
      "INVALID_MODULE",
      `module ${quote(file)} has ${found}; export default a Crew or a Flow (or a function returning one)`,
      { path: file },
    );
  }
  return value;
}
