import pg from "pg";
import { PostgresStore } from "../../src/stores/postgres-store.js";
import type { Store } from "../../src/stores/store.js";
import { freshName, PG_URL, postgresService, withParam } from "../services.js";
import { describe, it } from "vitest";
import { describeStoreConformance } from "./conformance.js";

const service = await postgresService();

// Each test gets a schema of its own: dropped afterwards, kept (and named) when the test failed.
if (service.available) {
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
    };
  });
} else {
  // Only without CI=true (services.ts fails the run otherwise): say why nothing ran.
  describe.skip(`postgres store conformance: PostgreSQL unreachable (${service.reason})`, () => it("needs PostgreSQL", () => undefined));
}
