import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll } from "vitest";
import { freshName, postgresService, redisService, withParam } from "../services.js";

/** The five stores, each URL naming fresh state; a scratch folder for the file stores, removed after the file. */
export async function flowStores() {
  const scratch = mkdtempSync(path.join(os.tmpdir(), "crewstate-flow-"));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));
  const pg = await postgresService();
  const redis = await redisService();
  return [
    { name: "memory", available: true, url: () => "memory:" },
    { name: "sqlite", available: true, url: () => `sqlite:${path.join(scratch, `${freshName("flow")}.db`)}` },
    { name: "json", available: true, url: () => `json:${path.join(scratch, `${freshName("flow")}.json`)}` },
    { name: "postgres", available: pg.available, url: () => withParam(pg.url, "schema", freshName("flow")) },
    { name: "redis", available: redis.available, url: () => withParam(redis.url, "prefix", `${freshName("flow")}:`) },
  ];
}
