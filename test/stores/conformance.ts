/**
 * THE store conformance suite: every store runs it, wired in by a few lines in its own
 * `test/stores/<scheme>.test.ts`:
 *
 *   describeStoreConformance("sqlite", async () => ({ store, reopen, cleanup }));
 *
 * (a store with a known, reported bug may pass `{ knownBugs }` as a third argument).
 *
 * One spec file per behaviour lives in `./conformance/`; each receives the current test's store
 * through a `ConformanceContext` and uses only the public `Store` methods. Every test gets a fresh
 * harness (empty state) and cleans it up afterwards, telling the harness whether the test failed
 * so it can keep the state for inspection. `wiring.test.ts` checks that every store scheme in
 * `src/stores/open.ts` has a test file that runs this suite.
 */
import { afterEach, beforeAll, beforeEach, describe } from "vitest";
import type { Store } from "../../src/stores/store.js";
import { beginRunSpec } from "./conformance/begin-run.js";
import { callsSpec } from "./conformance/calls.js";
import { concurrencySpec } from "./conformance/concurrency.js";
import { durabilitySpec } from "./conformance/durability.js";
import { encodingSpec } from "./conformance/encoding.js";
import { fencingSpec } from "./conformance/fencing.js";
import { importExportSpec } from "./conformance/import-export.js";
import { leasesSpec } from "./conformance/leases.js";
import { listRunsSpec } from "./conformance/list-runs.js";
import { notJsonSpec } from "./conformance/not-json.js";
import { outputHashSpec } from "./conformance/output-hash.js";
import { parallelTasksSpec } from "./conformance/parallel-tasks.js";
import { payloadsSpec } from "./conformance/payloads.js";
import { removeTaskSpec } from "./conformance/remove-task.js";
import { runIdsSpec } from "./conformance/run-ids.js";
import { runKindSpec } from "./conformance/run-kind.js";
import { runStatusSpec } from "./conformance/run-status.js";
import { saveTaskSpec } from "./conformance/save-task.js";
import { taskNamesSpec } from "./conformance/task-names.js";
import { unknownRunSpec } from "./conformance/unknown-run.js";
import { specIt, type SpecIt } from "./conformance/support.js";
import type { ConformanceContext, StoreHarness, StoreHarnessFactory } from "./harness.js";

export type { ConformanceContext, StoreHarness, StoreHarnessFactory } from "./harness.js";

const SPECS: ReadonlyArray<(ctx: ConformanceContext, it: SpecIt) => void> = [
  beginRunSpec,
  runKindSpec,
  saveTaskSpec,
  runStatusSpec,
  removeTaskSpec,
  unknownRunSpec,
  listRunsSpec,
  callsSpec,
  importExportSpec,
  fencingSpec,
  leasesSpec,
  durabilitySpec,
  payloadsSpec,
  encodingSpec,
  notJsonSpec,
  runIdsSpec,
  taskNamesSpec,
  concurrencySpec,
  parallelTasksSpec,
  outputHashSpec,
];

export interface ConformanceOptions {
  /**
   * Tests this store is known to fail, by title, with the reason (name the file to fix). They
   * run as `it.fails`, so the list must shrink as the bugs are fixed. Keep it empty.
   */
  knownBugs?: Record<string, string>;
}

export function describeStoreConformance(name: string, harness: StoreHarnessFactory, options: ConformanceOptions = {}): void {
  describe(`${name} store conformance`, () => {
    let current: StoreHarness | undefined;

    beforeEach(async () => {
      current = await harness();
    });

    afterEach(async (context) => {
      const done = current;
      current = undefined;
      await done?.cleanup({ failed: context.task.result?.state === "fail" });
    });

    const active = (): StoreHarness => {
      if (!current) throw new Error(`no ${name} store: the harness did not start, or a spec used the store outside a test`);
      return current;
    };
    const ctx: ConformanceContext = {
      get store(): Store {
        return active().store;
      },
      reopen: () => active().reopen(),
      get tamperOutput() {
        return active().tamperOutput;
      },
    };

    const { it, unmatched } = specIt(options.knownBugs ?? {});
    for (const spec of SPECS) spec(ctx, it);
    beforeAll(() => {
      // Runs once every spec has declared its tests.
      if (unmatched().length > 0) throw new Error(`knownBugs of the ${name} store name no conformance test: ${unmatched().join("; ")}`);
    });
  });
}
