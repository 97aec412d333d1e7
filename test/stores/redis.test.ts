import { Redis } from "ioredis";
import { RedisStore } from "../../src/stores/redis/store.js";
import { describeStoreConformance } from "../../src/testing/index.js";
import { freshName, REDIS_URL, redisService, withParam } from "../services.js";
import { describe } from "vitest";

const service = await redisService();

/** Runs `work` on an admin connection of its own. */
async function admin<T>(work: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis(REDIS_URL);
  try {
    return await work(client);
  } finally {
    client.disconnect();
  }
}

// Each test gets a key prefix of its own: deleted afterwards, kept (and named) when the test failed.
// Without CI=true an unreachable server skips the suite (services.ts has said why); with CI=true it fails the run.
describe.skipIf(!service.available)("redis store", () => {
  const prefixes = new Map<RedisStore, string>();
  const url = (prefix: string) => withParam(REDIS_URL, "prefix", prefix);

  describeStoreConformance("redis", {
    open: async () => {
      const prefix = `${freshName("redis")}:`;
      const store = await RedisStore.open(url(prefix));
      prefixes.set(store, prefix);
      return store;
    },
    reopen: (store) => RedisStore.open(url(prefixes.get(store)!)),
    close: async (store, { failed }) => {
      const prefix = prefixes.get(store)!;
      prefixes.delete(store);
      await store.close();
      if (failed) return console.warn(`kept Redis keys "${prefix}*" of the failed test`);
      await admin(async (client) => {
        let cursor = "0";
        do {
          const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
          if (keys.length > 0) await client.del(...keys);
          cursor = next;
        } while (cursor !== "0");
      });
    },
    tamperOutput: (store, runId, task, output) =>
      admin(async (client) => {
        const key = `${prefixes.get(store)!}run:${runId}:tasks`;
        const entry = JSON.parse((await client.hget(key, task))!) as { output: string };
        await client.hset(key, task, JSON.stringify({ ...entry, output }));
      }),
  });
});
