import { Redis } from "ioredis";
import { RedisStore } from "../../src/stores/redis-store.js";
import type { Store } from "../../src/stores/store.js";
import { freshName, REDIS_URL, redisService, withParam } from "../services.js";
import { describe } from "vitest";
import { describeStoreConformance } from "./conformance.js";

const service = await redisService();

// Each test gets a key prefix of its own: deleted afterwards, kept (and named) when the test failed.
// Without CI=true an unreachable server skips the suite (services.ts has said why); with CI=true it fails the run.
describe.skipIf(!service.available)("redis store", () => {
  describeStoreConformance("redis", async () => {
    const prefix = `${freshName("redis")}:`;
    const url = withParam(REDIS_URL, "prefix", prefix);
    const handles: Store[] = [await RedisStore.open(url)];
    return {
      store: handles[0]!,
      reopen: async () => {
        handles.push(await RedisStore.open(url));
        return handles.at(-1)!;
      },
      cleanup: async (outcome) => {
        await Promise.all(handles.map((store) => store.close()));
        if (outcome?.failed) return console.warn(`kept Redis keys "${prefix}*" of the failed test`);
        const admin = new Redis(REDIS_URL);
        try {
          let cursor = "0";
          do {
            const [next, keys] = await admin.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
            if (keys.length > 0) await admin.del(...keys);
            cursor = next;
          } while (cursor !== "0");
        } finally {
          admin.disconnect();
        }
      },
      tamperOutput: async (runId, task, output) => {
        const admin = new Redis(REDIS_URL);
        try {
          const key = `${prefix}run:${runId}:tasks`;
          const entry = JSON.parse((await admin.hget(key, task))!) as { output: string };
          await admin.hset(key, task, JSON.stringify({ ...entry, output }));
        } finally {
          admin.disconnect();
        }
      },
    };
  });
});
