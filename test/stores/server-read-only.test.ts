/** A read-only open of PostgreSQL or Redis creates and migrates nothing. */
import { Redis } from "ioredis";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { isCrewstateError } from "../../src/errors.js";
import { openStore } from "../../src/stores/open.js";
import { freshName, PG_URL, postgresService, REDIS_URL, redisService, withParam } from "../services.js";

const [postgres, redis] = await Promise.all([postgresService(), redisService()]);

async function notFound(url: string): Promise<void> {
  const error = await openStore(url, { readOnly: true }).then(
    async (store) => (await store.close(), expect.fail("expected STORE_NOT_FOUND")),
    (e: unknown) => e,
  );
  if (!isCrewstateError(error, "STORE_NOT_FOUND")) expect.fail(`expected STORE_NOT_FOUND, got ${String(error)}`);
}

/** Once a writer has made the store, a read-only open reads it. */
async function readsWhatWasWritten(url: string): Promise<void> {
  const writer = await openStore(url);
  await writer.beginRun({ runId: "r", crew: "c", inputs: {} });
  await writer.close();
  const reader = await openStore(url, { readOnly: true });
  expect((await reader.listRuns()).map((r) => r.runId)).toEqual(["r"]);
  await reader.close();
}

describe("read-only opens of the server stores", () => {
  it.skipIf(!postgres.available)("PostgreSQL: a schema that is not there is STORE_NOT_FOUND and is not created; an existing one reads", async () => {
    const schema = freshName("ro");
    const url = withParam(PG_URL, "schema", schema);
    const admin = new pg.Client(PG_URL);
    await admin.connect();
    try {
      await notFound(url);
      expect((await admin.query("SELECT 1 FROM information_schema.schemata WHERE schema_name = $1", [schema])).rowCount).toBe(0);
      await readsWhatWasWritten(url);
    } finally {
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => admin.end());
    }
  });

  it.skipIf(!redis.available)("Redis: a prefix holding nothing is STORE_NOT_FOUND and gets no version key; an existing one reads", async () => {
    const prefix = `${freshName("ro")}:`;
    const url = withParam(REDIS_URL, "prefix", prefix);
    const admin = new Redis(REDIS_URL);
    try {
      await notFound(url);
      expect(await admin.keys(`${prefix}*`)).toEqual([]);
      await readsWhatWasWritten(url);
    } finally {
      const keys = await admin.keys(`${prefix}*`);
      if (keys.length > 0) await admin.del(...keys);
      admin.disconnect();
    }
  });
});
