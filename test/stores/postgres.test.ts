import pg from "pg";
import { PostgresStore } from "../../src/stores/postgres-store.js";
import type { Store } from "../../src/stores/store.js";
import { freshName, PG_URL, postgresService, withParam } from "../services.js";
import { describe } from "vitest";
import { describeStoreConformance } from "./conformance.js";

const service = await postgresService();

// Each test gets a schema of its own: dropped afterwards, kept (and named) when the test failed.
// Without CI=true an unreachable server skips the suite (services.ts has said why); with CI=true it fails the run.
describe.skipIf(!service.available)("postgres store", () => {
  describeStoreConformance("postgres", async () => {
    const schema = freshName("pg");
    const url = withParam(PG_URL, "schema", schema);
    const handles: Store[] = [await PostgresStore.open(url)];
    return {
      store: handles[0]!,
      reopen: async () => {
        handles.push(await PostgresStore.open(url));
        return handles.at(-1)!;
      },
      cleanup: async (outcome) => {
        await Promise.all(handles.map((store) => store.close()));
        if (outcome?.failed) return console.warn(`kept PostgreSQL schema "${schema}" of the failed test`);
        const admin = new pg.Client(PG_URL);
        await admin.connect();
        await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => admin.end());
      },
      tamperOutput: async (runId, task, output) => {
        const admin = new pg.Client(PG_URL);
        await admin.connect();
        await admin
          .query(`UPDATE "${schema}".tasks SET output = $1 WHERE run_id = $2 AND name = $3`, [JSON.stringify(output), runId, task])
          .finally(() => admin.end());
      },
    };
  });
});
