/**
 * Every store that `openStore` can open must run the conformance suite: this test reads the
 * scheme list in `src/stores/open.ts` and the store test files, and fails for a store that no
 * test file wires in with `describeStoreConformance` (BullMQ once shipped a Postgres setup file
 * that nothing referenced; this is the guard against that). Each takes the suite from the module
 * that is published as `crewstate/testing`, so what ships is what the five stores pass.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const here = dirname(fileURLToPath(import.meta.url));
const openSource = readFileSync(join(here, "../../src/stores/open.ts"), "utf8");

interface StoreCase {
  /** The scheme labels that share one branch, e.g. ["postgres", "postgresql"]. */
  schemes: string[];
  /** How a test can name the store: its class and its module. */
  names: string[];
}

/** The `case "x":` groups of the `switch (scheme)` in open.ts, with the store each one opens. */
function storeCases(source: string): StoreCase[] {
  const start = source.indexOf("switch (scheme)");
  if (start === -1) return [];
  const body = source.slice(start, source.indexOf("default:", start));
  const cases: StoreCase[] = [];
  // A group is a run of labels followed by the code of its branch, up to the next label.
  const group = /((?:case\s+"[^"]+"\s*:\s*)+)([\s\S]*?)(?=case\s+"|$)/g;
  for (const [, labels, branch] of body.matchAll(group)) {
    const schemes = [...labels!.matchAll(/case\s+"([^"]+)"/g)].map((m) => m[1]!);
    const names = [
      ...[...branch!.matchAll(/new\s+([A-Z]\w*)\s*\(/g)].map((m) => m[1]!),
      ...[...branch!.matchAll(/\{\s*([A-Z]\w*)\s*\}\s*=\s*await\s+import\(/g)].map((m) => m[1]!),
      ...[...branch!.matchAll(/import\(\s*"\.\/([\w./-]+?)(?:\.js)?"\s*\)/g)].map((m) => `stores/${m[1]!}`),
    ];
    cases.push({ schemes, names });
  }
  return cases;
}

/** Store test files that call describeStoreConformance (outside comments), with their code. */
function conformanceFiles(): Array<{ file: string; code: string }> {
  return readdirSync(here)
    .filter((file) => file.endsWith(".test.ts"))
    .map((file) => ({
      file,
      code: readFileSync(join(here, file), "utf8")
        .replace(/\/\*[\s\S]*?\*\//g, "")
        .replace(/^\s*\/\/.*$/gm, ""),
    }))
    .filter(({ code }) => /\bdescribeStoreConformance\s*\(/.test(code));
}

function wires(code: string, store: StoreCase): boolean {
  return (
    store.names.some((name) => (name.startsWith("stores/") ? code.includes(name) : new RegExp(`\\b${name}\\b`).test(code))) ||
    store.schemes.some((scheme) => code.includes(`"${scheme}:`) || code.includes(`\`${scheme}:`))
  );
}

describe("store wiring", () => {
  const cases = storeCases(openSource);

  it("finds the store schemes in src/stores/open.ts", () => {
    const schemes = cases.flatMap((c) => c.schemes);
    expect(schemes).toEqual(expect.arrayContaining(["memory", "sqlite", "json", "postgres", "redis"]));
    for (const store of cases) expect(store.names, `how to recognise the store of ${store.schemes.join("/")}`).not.toEqual([]);
  });

  it("every store scheme has a test file that runs the conformance suite", () => {
    const files = conformanceFiles();
    const missing = cases
      .filter((store) => !files.some(({ code }) => wires(code, store)))
      .map((store) => `${store.schemes.join("/")} (${store.names.join(", ")})`);
    expect(
      missing,
      `no test/stores/*.test.ts calls describeStoreConformance with these stores; add one (e.g. test/stores/${missing[0]?.split(/[/ ]/)[0]}.test.ts)`,
    ).toEqual([]);
  });

  it("every store's test file takes the suite from the published module (src/testing, crewstate/testing)", () => {
    const elsewhere = conformanceFiles()
      .filter(({ code }) => !/import\s*\{[^}]*\bdescribeStoreConformance\b[^}]*\}\s*from\s*"(?:\.\.\/\.\.\/src\/testing\/index\.js|crewstate\/testing)"/.test(code))
      .map(({ file }) => file);
    expect(elsewhere).toEqual([]);
  });
});
