/**
 * The peers `npm run bench` measures beside crewstate, loaded only when asked for:
 * LangGraph.js (`langgraph`), DBOS Transact (`dbos`), the tutorial's JSON file (`tutorial`) and
 * the physical floor (`floor`). PostgreSQL- and Redis-backed ones are left out, with a note on
 * stderr, when the server does not answer — as crewstate's own targets are.
 */
import type { Redis } from "ioredis";
import type pg from "pg";
import { PG_URL, REDIS_URL } from "../targets.js";
import type { System } from "./system.js";

export const PEER_FAMILIES = ["langgraph", "dbos", "tutorial", "floor"] as const;
export type PeerFamily = (typeof PEER_FAMILIES)[number];

export interface Peers {
  systems: System[];
  close(): Promise<void>;
}

async function connectPostgres(): Promise<pg.Client | undefined> {
  const { default: pgModule } = await import("pg");
  const client = new pgModule.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    return client;
  } catch (error) {
    process.stderr.write(`bench: PostgreSQL at ${PG_URL} not reachable, PostgreSQL peers skipped (${(error as Error).message})\n`);
    return undefined;
  }
}

async function connectRedis(): Promise<Redis | undefined> {
  const { Redis } = await import("ioredis");
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2000 });
  try {
    await redis.connect();
    return redis;
  } catch (error) {
    process.stderr.write(`bench: Redis at ${REDIS_URL} not reachable, Redis floor skipped (${(error as Error).message})\n`);
    redis.disconnect();
    return undefined;
  }
}

export async function peerSystems(scratch: string, families: readonly PeerFamily[]): Promise<Peers> {
  const wants = (family: PeerFamily) => families.includes(family);
  const admin = wants("langgraph") || wants("dbos") || wants("floor") ? await connectPostgres() : undefined;
  const redis = wants("floor") ? await connectRedis() : undefined;
  const systems: System[] = [];
  try {
    if (wants("langgraph")) {
      const { langgraphSystems } = await import("./langgraph.js");
      systems.push(...langgraphSystems(scratch, admin ? PG_URL : undefined, admin));
    }
    if (wants("dbos") && admin) {
      const { dbosSystems } = await import("./dbos.js");
      systems.push(...(await dbosSystems(PG_URL, admin)));
    }
    if (wants("tutorial")) {
      const { tutorialSystems } = await import("./tutorial.js");
      systems.push(...tutorialSystems(scratch));
    }
    if (wants("floor")) {
      const { floorSystems } = await import("./floor.js");
      systems.push(...floorSystems(scratch, admin, redis));
    }
  } catch (error) {
    for (const system of systems) await system.close().catch(() => {});
    await admin?.end();
    redis?.disconnect();
    throw error;
  }
  return {
    systems,
    async close() {
      for (const system of systems) await system.close();
      await admin?.end();
      redis?.disconnect();
    },
  };
}
