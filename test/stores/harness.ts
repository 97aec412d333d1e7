import type { Store } from "../../src/stores/store.js";

/**
 * What a store's test file hands to `describeStoreConformance`: a fresh, empty store for one test.
 *
 * The conformance suite calls the harness factory before every test and `cleanup` after it, and
 * never closes a store itself.
 */
export interface StoreHarness {
  /** A store over empty state that no other test shares (its own temp dir, schema or key prefix). */
  store: Store;
  /**
   * Opens a second, fresh handle onto the same underlying state — to prove that what one handle
   * committed is durable and visible to another. Closes nothing. The memory store may return the
   * same store.
   */
  reopen(): Promise<Store>;
  /**
   * Closes every handle this harness opened (`store` and every `reopen()`) and removes the state.
   * When `outcome.failed` is true a harness may keep the state (files, schema) for inspection,
   * saying where; it must still close its handles. A harness may ignore the argument.
   */
  cleanup(outcome?: { failed: boolean }): Promise<void>;
  /**
   * Replaces a stored task's output text behind the store's back (an SQL UPDATE, a Redis HSET…),
   * leaving its output hash as it was. Stores that treat such an edit as legitimate leave it out.
   */
  tamperOutput?(runId: string, task: string, output: string): Promise<void>;
}

export type StoreHarnessFactory = () => Promise<StoreHarness>;

/** The view of the current test's harness that every conformance spec receives. */
export interface ConformanceContext {
  /** The current test's store. */
  readonly store: Store;
  /** A second handle onto the current test's state; see `StoreHarness.reopen`. */
  reopen(): Promise<Store>;
  /** See `StoreHarness.tamperOutput`; undefined when the harness has none. */
  readonly tamperOutput: StoreHarness["tamperOutput"];
}
