/**
 * DBOS Transact (`@dbos-inc/dbos-sdk`) running the bench chain: one registered workflow whose N
 * steps (`DBOS.runStep`) each return the 1 KiB output of the previous one, on the local
 * PostgreSQL. DBOS gets a database of its own, `crewstate_bench_dbos_<pid>`, created here and
 * dropped on close.
 *
 * Systems:
 * - `dbos:none`: the same loop as a plain async function. DBOS has no mode that runs a
 *   workflow without checkpointing it, so its overhead is everything DBOS adds to the loop.
 * - `dbos:postgres`: the workflow, started with a workflow ID and awaited.
 *
 * Bytes stored: `pg_total_relation_size` of every table in DBOS's `dbos` schema after one run,
 * the run-data tables having been truncated before it (DBOS's own catalog rows stay).
 * Resume: a new `DBOSClient` (its own pool) retrieving the completed workflow's result and
 * listing its steps with their outputs — what a new process does to load a finished run.
 */
import { DBOS, DBOSClient } from "@dbos-inc/dbos-sdk";
import pg from "pg";
import { schemaBytes } from "./langgraph.js";
import { elapsedSince, type System } from "./system.js";
import { chainWork, stepName, type StepWork } from "./workload.js";

const DATABASE_PREFIX = "crewstate_bench_dbos_";
/** DBOS tables that describe the application rather than hold workflow runs; kept between runs. */
const CATALOG_TABLES = new Set(["dbos_migrations", "application_versions", "queues", "workflow_schedules", "event_dispatch_kv"]);

/** The workflow body: `n` steps, each `work.step` of the previous step's value. */
function chainOf<T>(work: StepWork<T>): (n: number) => Promise<T> {
  return async (n) => {
    let previous = work.initial;
    for (let i = 0; i < n; i++) {
      const input = previous;
      previous = await DBOS.runStep(async () => work.step(i, input), { name: stepName(i) });
    }
    return previous;
  };
}

/** The same loop without DBOS. */
async function plainChain<T>(work: StepWork<T>, n: number): Promise<T> {
  let previous = work.initial;
  for (let i = 0; i < n; i++) {
    const input = previous;
    previous = await (async () => work.step(i, input))();
  }
  return previous;
}

/** Replaces the database name in a PostgreSQL URL. */
function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** Drops databases left by bench processes that died before their cleanup. */
async function dropStale(admin: pg.Client): Promise<void> {
  const { rows } = await admin.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE $1", [`${DATABASE_PREFIX}%`]);
  for (const { datname } of rows) {
    const pid = Number(datname.slice(DATABASE_PREFIX.length));
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch (error) {
      alive = (error as NodeJS.ErrnoException).code !== "ESRCH";
    }
    if (!alive) await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
  }
}

/** `work`: what each step computes; default the chain bench's 1 KiB steps. */
export async function dbosSystems(pgUrl: string, admin: pg.Client, work: StepWork<any> = chainWork): Promise<System[]> {
  await dropStale(admin);
  const database = `${DATABASE_PREFIX}${process.pid}`;
  await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
  await admin.query(`CREATE DATABASE "${database}"`);
  const url = withDatabase(pgUrl, database);
  const workflow = DBOS.registerWorkflow(chainOf(work), { name: work.name });
  DBOS.setConfig({ name: "crewstate-bench", systemDatabaseUrl: url, logLevel: "error" });
  await DBOS.launch();
  const inspector = new pg.Client({ connectionString: url });
  await inspector.connect();
  const { rows } = await inspector.query<{ name: string }>("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'dbos'");
  const runTables = rows.map((r) => r.name).filter((name) => !CATALOG_TABLES.has(name));
  const workflowId = (tag: string) => `bench-${tag}`;

  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await inspector.end();
    await DBOS.shutdown();
    await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
  };

  return [
    {
      id: "dbos:none",
      label: "plain async loop (DBOS has no non-durable mode)",
      family: "DBOS",
      durability: "—",
      async run(n) {
        const start = process.hrtime.bigint();
        const last = await plainChain(work, n);
        const ms = elapsedSince(start);
        if (!work.check(last, n)) throw new Error("plain chain returned the wrong output");
        return { ms, steps: n, bytes: 0 };
      },
      async close() {},
    },
    {
      id: "dbos:postgres",
      label: "DBOS Transact workflow",
      family: "DBOS",
      durability: "server crash",
      baseline: "dbos:none",
      async run(n, tag) {
        await inspector.query(`TRUNCATE ${runTables.map((t) => `dbos."${t}"`).join(", ")} CASCADE`);
        const start = process.hrtime.bigint();
        const handle = await DBOS.startWorkflow(workflow, { workflowID: workflowId(tag) })(n);
        const last = await handle.getResult();
        const ms = elapsedSince(start);
        if (!work.check(last, n)) throw new Error("DBOS chain returned the wrong output");
        return { ms, steps: n, bytes: await schemaBytes(inspector, "dbos") };
      },
      async resume(n, tag) {
        const start = process.hrtime.bigint();
        const client = await DBOSClient.create({ systemDatabaseUrl: url });
        try {
          const result = await client.retrieveWorkflow<unknown>(workflowId(tag)).getResult();
          const steps = await client.listWorkflowSteps(workflowId(tag));
          const ms = elapsedSince(start);
          if (!work.check(result, n) || steps?.length !== n) throw new Error(`dbos: the completed workflow has ${steps?.length} of ${n} steps`);
          return ms;
        } finally {
          await client.destroy();
        }
      },
      close,
    },
  ];
}
