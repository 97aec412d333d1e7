import type { Store } from "../stores/store.js";

/**
 * How `describeStoreConformance` gets at a store. Only `open` is required: a store whose state
 * lives in its own object (like `MemoryStore`) needs nothing else.
 *
 * Every callback receives the store that `open` returned for the current test, so a test file
 * that gives each test its own file, schema or key prefix can look it up (e.g. in a `Map`).
 */
export interface StoreConformanceOptions<S extends Store = Store> {
  /**
   * Opens a store over fresh, empty state that no other test shares (its own temp dir, schema or
   * key prefix). Called before every test.
   */
  open(): Promise<S>;
  /**
   * Opens a second, fresh handle onto the same state as `store`, to prove that what one handle
   * committed is durable and visible to another. The suite closes every handle it gets from here
   * after the test (before `close`). Default: `store` itself, which is right only for a store
   * whose state lives in the object; a store that persists anything should pass this.
   */
  reopen?(store: S): Promise<Store>;
  /**
   * Called after every test, once the handles from `reopen` are closed: closes `store` and may
   * remove its state. When `outcome.failed` it may keep the state for inspection, saying where.
   * Default: `store.close()`.
   */
  close?(store: S, outcome: { failed: boolean }): Promise<void>;
  /**
   * Replaces a stored task's output text behind the store's back (an SQL UPDATE, a Redis HSET…),
   * leaving its output hash as it was. Without it the output-hash test is skipped: leave it out
   * only for a store whose outputs people may edit by hand.
   */
  tamperOutput?(store: S, runId: string, task: string, output: string): Promise<void>;
  /**
   * Whether two handles onto the same state may commit at the same time (default true). A store
   * that allows one open handle at a time passes false, which skips the test that commits through
   * two handles at once; commits through one handle must still be safe to interleave.
   */
  concurrent?: boolean;
  /**
   * Whether the store seals values at rest (default true): every store built on `BaseStore` does,
   * in its checked layer (`useEncryption`). A store that only wraps another behind the `Store`
   * interface passes false, which skips the encryption spec, saying why.
   */
  encryption?: boolean;
  /** Runs only these specs (see `SpecName`), e.g. `["fencing", "leases"]`. Default: all. */
  only?: readonly SpecName[];
  /**
   * Tests this store is known to fail, by title, with the reason (name the file to fix). They
   * run as `it.fails`, so the list must shrink as the bugs are fixed. Keep it empty.
   */
  knownBugs?: Record<string, string>;
}

/** The names of the specs, one per behaviour, as `only` takes them. */
export type SpecName =
  | "begin-run"
  | "run-kind"
  | "save-task"
  | "commit-chain"
  | "reuse"
  | "run-status"
  | "remove-task"
  | "delete-run"
  | "unknown-run"
  | "list-runs"
  | "calls"
  | "import-export"
  | "fencing"
  | "leases"
  | "durability"
  | "payloads"
  | "encoding"
  | "not-json"
  | "run-ids"
  | "task-names"
  | "concurrency"
  | "parallel-tasks"
  | "output-hash"
  | "encryption";

/** The view of the current test's store that every conformance spec receives. */
export interface ConformanceContext {
  /** The current test's store. */
  readonly store: Store;
  /** A second handle onto the current test's state; see `StoreConformanceOptions.reopen`. */
  reopen(): Promise<Store>;
  /** See `StoreConformanceOptions.tamperOutput`; undefined when the store has none. */
  readonly tamperOutput: ((runId: string, task: string, output: string) => Promise<void>) | undefined;
  /** See `StoreConformanceOptions.concurrent`. */
  readonly concurrent: boolean;
  /** See `StoreConformanceOptions.encryption`. */
  readonly encryption: boolean;
}
