import pg from "pg";
import { PostgresStore } from "../../src/stores/postgres/store.js";
import { describeStoreConformance } from "../../src/testing/index.js";
import { freshName, PG_URL, postgresService, withParam } from "../services.js";
import { describe } from "vitest";

const service = await postgresService();

/** Runs one statement as the admin, on a connection of its own. */
async function admin(sql: string, params: unknown[] = []): Promise<void> {
  const client = new pg.Client(PG_URL);
  await client.connect();
  await client.query(sql, params).finally(() => client.end());
}

// Each test gets a schema of its own: dropped afterwards, kept (and named) when the test failed.
// Without CI=true an unreachable server skips the suite (services.ts has said why); with CI=true it fails the run.
describe.skipIf(!service.available)("postgres store", () => {
  const schemas = new Map<PostgresStore, string>();
  const url = (schema: string) => withParam(PG_URL, "schema", schema);

  describeStoreConformance("postgres", {
    open: async () => {
      const schema = freshName("pg");
      const store = await PostgresStore.open(url(schema));
      schemas.set(store, schema);
      return store;
    },
    reopen: (store) => PostgresStore.open(url(schemas.get(store)!)),
    close: async (store, { failed }) => {
      const schema = schemas.get(store)!;
      schemas.delete(store);
      await store.close();
      if (failed) return console.warn(`kept PostgreSQL schema "${schema}" of the failed test`);
      await admin(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    },
    tamperOutput: (store, runId, task, output) =>
      admin(`UPDATE "${schemas.get(store)!}".tasks SET output = $1 WHERE run_id = $2 AND name = $3`, [JSON.stringify(output), runId, task]),
  });
});
