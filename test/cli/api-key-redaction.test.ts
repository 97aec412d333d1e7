/**
 * An API key never lands in a store or on the terminal. The fake OpenAI-compatible server answers a
 * wrong key with a 401 whose message echoes the key and the Authorization header (as some servers
 * do); the task fails with that error, which must reach state.db / state.json, the progress lines,
 * the logs and `show` / `runs` / `export` / `output` with the key masked.
 */
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { assertBuilt, testWorkspace } from "../support/cli.js";
import { FakeOpenAI } from "../support/fake-openai.js";
import { HAS_JSON_STORE, JSON_FILE, MODEL, SQLITE, TWO_STEP } from "./crews.js";

/** Every file of the workspace but node_modules, as bytes. */
function storedBytes(dir: string): { file: string; bytes: Buffer }[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && !path.relative(dir, entry.parentPath).startsWith("node_modules"))
    .map((entry) => ({ file: path.join(entry.parentPath, entry.name), bytes: readFileSync(path.join(entry.parentPath, entry.name)) }));
}

describe("an API key echoed back in a provider's error", () => {
  assertBuilt();
  for (const kind of HAS_JSON_STORE ? [SQLITE, JSON_FILE] : [SQLITE]) {
    it(`is masked in every stored byte and every line the CLI prints (${kind.name} store)`, async (context) => {
      const server = await FakeOpenAI.forTest(context);
      const ws = testWorkspace(context);
      const crew = ws.write("crew.ts", TWO_STEP);
      const key = `sk-CANARY-${randomBytes(12).toString("hex")}`;
      const store = kind.url(ws);
      const env = { OPENAI_BASE_URL: server.url, OPENAI_API_KEY: key, CREWSTATE_LOG_LEVEL: "info" };

      const run = await ws.run(["run", crew, "--run-id", "r1", "--input", "notes=Policy PN-1", "--store", store, ...MODEL], { env });
      expect(run.code).not.toBe(0);
      expect(server.requests[0]?.status, "the server refused the key").toBe(401);
      expect(run.stderr).toMatch(/Incorrect API key provided: \*\*\*/);
      const outputs = [run];
      // The reading commands get the key too, as a user's shell would have it.
      for (const args of [["show", "r1"], ["show", "r1", "--json", "--events"], ["runs"], ["runs", "--json"], ["export", "r1"], ["output", "r1", "analyze_task"]]) {
        outputs.push(await ws.run([...args, "--store", store], { env }));
      }
      expect(outputs[1]!.stdout, "show names the failure").toMatch(/Incorrect API key provided/);
      for (const result of outputs) {
        expect(result.stdout).not.toContain(key);
        expect(result.stderr).not.toContain(key);
      }
      const files = storedBytes(ws.dir);
      expect(files.length).toBeGreaterThan(1);
      for (const { file, bytes } of files) expect(bytes.includes(key), `${file} holds the key`).toBe(false);
    }, 90_000);
  }
});
