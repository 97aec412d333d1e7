/**
 * LangGraph.js running the bench chain: a `StateGraph` of N nodes in a line, each appending its
 * 1 KiB output to an `outputs` channel whose reducer concatenates (the idiomatic
 * `Annotation<string[]>({ reducer })`, a `BinaryOperatorAggregate` channel), compiled with
 * one of the checkpointers and invoked with a `thread_id`.
 *
 * Systems:
 * - `langgraph:none`: compiled without a checkpointer — the baseline.
 * - `langgraph:memory`: `MemorySaver`.
 * - `langgraph:sqlite`: `SqliteSaver.fromConnString(file)` as shipped: WAL, and SQLite's default
 *   `synchronous=FULL`, so every checkpoint is fsynced (power-loss durable).
 * - `langgraph:sqlite-normal`: the same saver on a connection we open with WAL and
 *   `synchronous=NORMAL`, crewstate's default durability (process-crash durable).
 * - `langgraph:postgres`: `PostgresSaver` in a schema of its own per run.
 *
 * All but the no-checkpointer baseline and the shipped SqliteSaver are measured up to N = 100
 * unless `--all` is given: their N = 1000 runs take 20–45 s each.
 */
import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { Annotation, END, MemorySaver, START, StateGraph, type BaseCheckpointSaver } from "@langchain/langgraph";
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";
import Database from "better-sqlite3";
import type pg from "pg";
import { dirBytes } from "../targets.js";
import { elapsedSince, instrument, type Sample, type System } from "./system.js";
import { stepName, stepOutput, type StepWork } from "./workload.js";

type ChainState = Record<string, unknown>;

const ChainAnnotation = Annotation.Root({
  outputs: Annotation<string[]>({ reducer: (left, right) => left.concat(right), default: () => [] }),
});

/** One value, replaced by each node (a LastValue channel): the graph of a `StepWork`. */
const ValueAnnotation = Annotation.Root({ value: Annotation<unknown>() });

/** The compiled graph, typed only as far as the bench uses it. */
interface CompiledChain {
  invoke(input: ChainState, config: { configurable?: { thread_id: string }; recursionLimit: number }): Promise<ChainState>;
  getState(config: { configurable: { thread_id: string } }): Promise<{ values: ChainState; next: string[] }>;
}

/** `StateGraph`'s builder types track node names as literals; a chain of N generated names needs this looser view. */
interface ChainBuilder {
  addNode(name: string, node: (state: ChainState) => Partial<ChainState>): ChainBuilder;
  addEdge(from: string, to: string): ChainBuilder;
  compile(options?: { checkpointer?: BaseCheckpointSaver }): CompiledChain;
}

/** The graph a peer system runs: its nodes, its input, and whether a final state is what N nodes give. */
interface GraphShape {
  graph(n: number): ChainBuilder;
  input(): ChainState;
  /** Why `state` is not the state after `n` nodes; undefined when it is. */
  wrong(state: ChainState, n: number): string | undefined;
}

/** A line of `n` nodes named like the chain's tasks. */
function line(annotation: unknown, node: (i: number) => (state: ChainState) => Partial<ChainState>): (n: number) => ChainBuilder {
  const builders = new Map<number, ChainBuilder>();
  return (n) => {
    let builder = builders.get(n);
    if (!builder) {
      builder = new StateGraph(annotation as typeof ChainAnnotation) as unknown as ChainBuilder;
      for (let i = 0; i < n; i++) builder.addNode(stepName(i), node(i));
      builder.addEdge(START, stepName(0));
      for (let i = 1; i < n; i++) builder.addEdge(stepName(i - 1), stepName(i));
      builder.addEdge(stepName(n - 1), END);
      builders.set(n, builder);
    }
    return builder;
  };
}

/** The chain bench's graph: each node appends its 1 KiB output to `outputs`; built once per size, compiling it per checkpointer is cheap. */
const CHAIN: GraphShape = {
  graph: line(ChainAnnotation, (i) => (state) => ({ outputs: [stepOutput(i, (state.outputs as string[]).at(-1) ?? "")] })),
  input: () => ({ outputs: [] }),
  wrong: (state, n) => ((state.outputs as string[]).length === n ? undefined : `${(state.outputs as string[]).length} of ${n} outputs`),
};

/** The graph of `work`: one `value` channel that each node replaces with `work.step` of it. */
function workShape(work: StepWork<any>): GraphShape {
  return {
    graph: line(ValueAnnotation, (i) => (state) => ({ value: work.step(i, state.value) })),
    input: () => ({ value: work.initial }),
    wrong: (state, n) => (work.check(state.value, n) ? undefined : `value ${JSON.stringify(state.value)} after ${n} nodes`),
  };
}

const THREAD = { configurable: { thread_id: "bench" } };

async function invoke(shape: GraphShape, app: CompiledChain, n: number, threaded: boolean): Promise<number> {
  const start = process.hrtime.bigint();
  const result = await app.invoke(shape.input(), { ...(threaded ? THREAD : {}), recursionLimit: n + 10 });
  const ms = elapsedSince(start);
  const wrong = shape.wrong(result, n);
  if (wrong) throw new Error(`LangGraph chain of ${n} returned ${wrong}`);
  return ms;
}

function checkResumed(shape: GraphShape, state: { values: ChainState; next: string[] }, n: number, label: string): void {
  const wrong = shape.wrong(state.values, n);
  if (wrong || state.next.length !== 0) {
    throw new Error(`${label}: the resumed state has ${wrong ?? "every node's output"} and ${state.next.length} nodes still to run`);
  }
}

/** Bytes of every serialized checkpoint and write a `MemorySaver` holds. */
function heldBytes(value: unknown): number {
  if (value instanceof Uint8Array) return value.byteLength;
  if (typeof value === "string") return Buffer.byteLength(value);
  if (Array.isArray(value)) return value.reduce((sum: number, v) => sum + heldBytes(v), 0);
  if (value && typeof value === "object") return Object.values(value).reduce((sum: number, v) => sum + heldBytes(v), 0);
  return 0;
}

/** `work`: what each node computes, in a graph of one value; default the chain bench's graph of 1 KiB outputs. */
export function langgraphSystems(scratch: string, pgUrl: string | undefined, admin: pg.Client | undefined, work?: StepWork<any>): System[] {
  const shape = work ? workShape(work) : CHAIN;
  const family = "LangGraph.js" as const;
  const baseline = "langgraph:none";
  const systems: System[] = [
    {
      id: baseline,
      label: "LangGraph.js, no checkpointer",
      family,
      durability: "—",
      async run(n) {
        return { ms: await invoke(shape, shape.graph(n).compile(), n, false), steps: n, bytes: 0 };
      },
      async close() {},
    },
    {
      id: "langgraph:memory",
      label: "LangGraph.js MemorySaver",
      family,
      durability: "—",
      baseline,
      // Bound by the same whole-state serialization as SqliteSaver (its time in saver calls shows
      // it); at N = 1000 a run takes ~20 s.
      upTo: 100,
      async run(n) {
        const saver = new MemorySaver();
        const meter = instrument(saver);
        const ms = await invoke(shape, shape.graph(n).compile({ checkpointer: saver }), n, true);
        return { ms, insideMs: meter.ms, steps: n, bytes: heldBytes([saver.storage, saver.writes]) };
      },
      async close() {},
    },
    sqliteSystem(shape, scratch, "full"),
    sqliteSystem(shape, scratch, "normal"),
  ];
  if (pgUrl && admin) systems.push(postgresSystem(shape, pgUrl, admin));
  return systems;
}

function sqliteSystem(shape: GraphShape, scratch: string, synchronous: "full" | "normal"): System {
  const shipped = synchronous === "full";
  const id = shipped ? "langgraph:sqlite" : "langgraph:sqlite-normal";
  const dirOf = (tag: string) => path.join(scratch, id.replace(":", "-"), tag);
  const open = (tag: string): SqliteSaver => {
    const file = path.join(dirOf(tag), "checkpoints.db");
    if (shipped) return SqliteSaver.fromConnString(file);
    const db = new Database(file);
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    return new SqliteSaver(db);
  };
  return {
    id,
    label: shipped ? "LangGraph.js SqliteSaver (as shipped: synchronous=FULL)" : "LangGraph.js SqliteSaver, synchronous=NORMAL",
    family: "LangGraph.js",
    durability: shipped ? "power loss" : "process crash",
    baseline: "langgraph:none",
    // At N = 1000 the saver is bound by serializing the whole state, not by the disk (see
    // docs/benchmarks.md), and a run takes ~20 s: the NORMAL variant adds nothing new there.
    upTo: shipped ? undefined : 100,
    async run(n, tag) {
      mkdirSync(dirOf(tag), { recursive: true });
      const saver = open(tag);
      const app = shape.graph(n).compile({ checkpointer: saver });
      // Create the tables before the clock starts, as crewstate's openStore does; SqliteSaver
      // would otherwise do it lazily inside the first step.
      (saver as unknown as { setup(): void }).setup();
      const meter = instrument(saver);
      const ms = await invoke(shape, app, n, true);
      saver.db.close();
      return { ms, insideMs: meter.ms, steps: n, bytes: dirBytes(dirOf(tag)) };
    },
    async resume(n, tag) {
      const start = process.hrtime.bigint();
      const saver = open(tag);
      const opened = elapsedSince(start);
      const app = shape.graph(n).compile({ checkpointer: saver });
      const loadStart = process.hrtime.bigint();
      const state = await app.getState(THREAD);
      const loaded = elapsedSince(loadStart);
      saver.db.close();
      checkResumed(shape, state, n, id);
      return opened + loaded;
    },
    async discard(tag) {
      rmSync(dirOf(tag), { recursive: true, force: true });
    },
    async close() {},
  };
}

function postgresSystem(shape: GraphShape, pgUrl: string, admin: pg.Client): System {
  const schemaOf = (tag: string) => `lgbench_${process.pid}_${tag.replace(/[^a-z0-9]/gi, "_").toLowerCase()}`;
  const used = new Set<string>();
  const drop = async (schema: string) => {
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    used.delete(schema);
  };
  return {
    id: "langgraph:postgres",
    label: "LangGraph.js PostgresSaver",
    family: "LangGraph.js",
    durability: "server crash",
    baseline: "langgraph:none",
    // A run at N = 1000 takes 25–45 s and stores ~58 MB: measured there only with `--all`.
    upTo: 100,
    async run(n, tag) {
      const schema = schemaOf(tag);
      await drop(schema);
      used.add(schema);
      const saver = PostgresSaver.fromConnString(pgUrl, { schema });
      let sample: Sample;
      try {
        await saver.setup(); // creates the schema and tables, and warms the pool's connection
        const meter = instrument(saver);
        const ms = await invoke(shape, shape.graph(n).compile({ checkpointer: saver }), n, true);
        sample = { ms, insideMs: meter.ms, steps: n, bytes: await schemaBytes(admin, schema) };
      } finally {
        await saver.end();
      }
      return sample;
    },
    async resume(n, tag) {
      const start = process.hrtime.bigint();
      const saver = PostgresSaver.fromConnString(pgUrl, { schema: schemaOf(tag) });
      const opened = elapsedSince(start);
      try {
        const app = shape.graph(n).compile({ checkpointer: saver });
        const loadStart = process.hrtime.bigint();
        const state = await app.getState(THREAD); // connects, then loads the latest checkpoint and its blobs
        const loaded = elapsedSince(loadStart);
        checkResumed(shape, state, n, "langgraph:postgres");
        return opened + loaded;
      } finally {
        await saver.end();
      }
    },
    async discard(tag) {
      await drop(schemaOf(tag));
    },
    async close() {
      for (const schema of [...used]) await drop(schema);
    },
  };
}

/** `pg_total_relation_size` (heap, TOAST and indexes) of every table in `schema`. */
export async function schemaBytes(client: pg.Client, schema: string): Promise<number> {
  const { rows } = await client.query<{ bytes: string }>(
    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'",
    [schema],
  );
  return Number(rows[0]!.bytes);
}
