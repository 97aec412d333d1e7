/**
 * Store passwords never reach the terminal. Each hostile URL (test/cli/hostile-urls.ts) goes
 * through every command that shows a store — `run` (its "inspect with: … --store" line), `show`,
 * `runs` (on an empty store), `export`, `migrate` both ways, a run whose URL comes from CREWSTATE_STORE, and an error —
 * and no word of its password may appear in stdout or stderr: 8 probes per URL.
 */
import pg from "pg";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PASSWORD_HINT } from "../../src/redact.js";
import { freshName, PG_URL, postgresService, REDIS_URL, redisService } from "../services.js";
import { assertBuilt, testWorkspace, Workspace } from "../support/cli.js";
import { HOSTILE_URLS, secretsOf } from "./hostile-urls.js";

const CREW = `import { Agent, Task, Crew } from "crewstate";
const agent = new Agent({ role: "r", goal: "g", backstory: "b" });
export default new Crew({ name: "secrets", agents: [agent], tasks: [new Task({ name: "t", description: "Say hello", expectedOutput: "x", agent })] });
`;

const pgUp = (await postgresService()).available;
const redisUp = (await redisService()).available;
const schemas: string[] = [];
const prefixes: string[] = [];

/** A source store holding run r0, for `migrate --to <hostile URL>`. */
let source: Workspace;

beforeAll(async () => {
  assertBuilt();
  source = new Workspace({ prefix: "crewstate-secrets-" });
  const crew = source.write("crew.js", CREW);
  const result = await source.run(["run", crew, "--run-id", "r0", "--model", "demo", "--store", `sqlite:${source.path("state.db")}`]);
  expect(result.code, result.stderr).toBe(0);
}, 60_000);

afterAll(async () => {
  source?.remove();
  if (pgUp && schemas.length > 0) {
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  }
  if (redisUp && prefixes.length > 0) {
    const admin = new Redis(REDIS_URL);
    for (const prefix of prefixes) {
      const keys = await admin.keys(`${prefix}*`);
      if (keys.length > 0) await admin.del(...keys);
    }
    admin.disconnect();
  }
});

function concrete(url: string): string {
  const schema = freshName("secrets");
  const prefix = `${freshName("secrets")}:`;
  schemas.push(schema);
  prefixes.push(prefix);
  return url.replace("{schema}", schema).replace("{prefix}", prefix);
}

describe("store passwords in the CLI's output", () => {
  for (const entry of HOSTILE_URLS) {
    const needs = /127\.0\.0\.1:5432/.test(entry.url) ? pgUp : /127\.0\.0\.1:6379/.test(entry.url) ? redisUp : true;
    it.skipIf(!needs).concurrent(`never prints a word of the password: ${entry.title}`, async (context) => {
      const ws = testWorkspace(context);
      const crew = ws.write("crew.js", CREW);
      const url = concrete(entry.url);
      const probes: { args: string[]; env?: Record<string, string> }[] = [
        { args: ["runs", "--store", url] }, // an empty store: "no runs in <url>"
        { args: ["run", crew, "--run-id", "r1", "--model", "demo", "--store", url] },
        { args: ["show", "r1", "--store", url] },
        { args: ["export", "r1", "--store", url] },
        { args: ["migrate", "--from", url, "--to", `json:${ws.path("copy.json")}`] },
        { args: ["migrate", "--from", `sqlite:${source.path("state.db")}`, "--to", url, "r0"] },
        { args: ["run", crew, "--run-id", "r2", "--model", "demo"], env: { CREWSTATE_STORE: url } },
        { args: ["show", "no-such-run", "--store", url] },
      ];
      const leaks: string[] = [];
      for (const probe of probes) {
        const result = await ws.run(probe.args, { env: probe.env, timeoutMs: 40_000 });
        for (const secret of secretsOf(entry)) {
          if (result.stdout.includes(secret)) leaks.push(`${probe.args[0]} (probe ${probes.indexOf(probe) + 1}) printed ${JSON.stringify(secret)} on stdout: ${result.stdout}`);
          if (result.stderr.includes(secret)) leaks.push(`${probe.args[0]} (probe ${probes.indexOf(probe) + 1}) printed ${JSON.stringify(secret)} on stderr: ${result.stderr}`);
        }
      }
      expect(leaks).toEqual([]);
    }, 240_000);
  }

  it.skipIf(!pgUp)("`run --store` with a password says how to give it instead of printing it", async (context) => {
    const ws = testWorkspace(context);
    const crew = ws.write("crew.js", CREW);
    const url = concrete(HOSTILE_URLS[0]!.url);
    const result = await ws.run(["run", crew, "--run-id", "r1", "--model", "demo", "--store", url]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/inspect with: crewstate show r1 --store postgres:\/\/postgres:\*\*\*@/);
    expect(result.stdout).toContain(PASSWORD_HINT);
  }, 60_000);
});
