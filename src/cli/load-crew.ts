import { existsSync, statSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { CrewstateError, messageOf, quote } from "../errors.js";
import { isCrew, type Crew } from "../model/crew.js";
import { guardedExit } from "./exit-guard.js";

/**
 * Loads a crew module: a .ts or .js file whose default export is a Crew, or a function (maybe
 * async) returning one. TypeScript is compiled on the fly by tsx.
 */
export async function loadCrew(file: string): Promise<Crew> {
  const absolute = path.resolve(file);
  if (!existsSync(absolute) || !statSync(absolute).isFile()) {
    throw new CrewstateError("INVALID_MODULE", `crew module ${quote(file)} not found`, { path: file });
  }
  return guardedExit(`crew module ${quote(file)}`, "while it was loading", () => importCrew(file, absolute));
}

async function importCrew(file: string, absolute: string): Promise<Crew> {
  let loaded: Record<string, unknown>;
  try {
    if (/\.[cm]?tsx?$/.test(absolute)) {
      const { tsImport } = await import("tsx/esm/api");
      loaded = await tsImport(pathToFileURL(absolute).href, import.meta.url);
    } else {
      loaded = await import(pathToFileURL(absolute).href);
    }
  } catch (error) {
    throw new CrewstateError("INVALID_MODULE", `crew module ${quote(file)} failed to load: ${messageOf(error)}`, { path: file }, { cause: error });
  }
  let value = loaded.default ?? loaded.crew;
  // A .ts module in a CommonJS package arrives as module.exports, with the default export inside.
  if (!isCrew(value) && typeof value === "object" && value !== null && "default" in value) value = (value as { default: unknown }).default;
  if (typeof value === "function" && !isCrew(value)) {
    try {
      value = await (value as () => unknown)();
    } catch (error) {
      throw new CrewstateError("INVALID_MODULE", `the default export of crew module ${quote(file)} threw: ${messageOf(error)}`, { path: file }, { cause: error });
    }
  }
  if (!isCrew(value)) {
    const found = value === undefined ? "no default export" : `a default export of type ${typeof value}`;
    throw new CrewstateError(
      "INVALID_MODULE",
      `crew module ${quote(file)} has ${found}; export default a Crew (or a function returning one)`,
      { path: file },
    );
  }
  return value;
}
