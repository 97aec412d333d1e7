/**
 * THE store conformance suite, published as `crewstate/testing`: every store runs it under vitest,
 * the project's own five as well as third-party ones, with a few lines in a test file:
 *
 *   describeStoreConformance("my-store", { open: async () => new MyStore() });
 *
 * One spec file per behaviour lives in `./specs/`; each receives the current test's store through
 * a `ConformanceContext` and uses only the public `Store` methods. Every test gets a fresh store
 * (empty state) and closes it afterwards, telling `close` whether the test failed so it can keep
 * the state for inspection. See docs/writing-a-store.md.
 */
import { afterEach, beforeAll, beforeEach, describe } from "vitest";
import type { Store } from "../stores/store.js";
import { beginRunSpec } from "./specs/begin-run.js";
import { callsSpec } from "./specs/calls.js";
import { commitChainSpec } from "./specs/commit-chain.js";
import { concurrencySpec } from "./specs/concurrency.js";
import { deleteRunSpec } from "./specs/delete-run.js";
import { durabilitySpec } from "./specs/durability.js";
import { encodingSpec } from "./specs/encoding.js";
import { encryptionSpec } from "./specs/encryption.js";
import { fencingSpec } from "./specs/fencing.js";
import { importExportSpec } from "./specs/import-export.js";
import { leasesSpec } from "./specs/leases.js";
import { listRunsSpec } from "./specs/list-runs.js";
import { notJsonSpec } from "./specs/not-json.js";
import { outputHashSpec } from "./specs/output-hash.js";
import { parallelTasksSpec } from "./specs/parallel-tasks.js";
import { payloadsSpec } from "./specs/payloads.js";
import { removeTaskSpec } from "./specs/remove-task.js";
import { reuseSpec } from "./specs/reuse.js";
import { runIdsSpec } from "./specs/run-ids.js";
import { runKindSpec } from "./specs/run-kind.js";
import { runStatusSpec } from "./specs/run-status.js";
import { saveTaskSpec } from "./specs/save-task.js";
import { taskNamesSpec } from "./specs/task-names.js";
import { unknownRunSpec } from "./specs/unknown-run.js";
import { specIt, type SpecIt } from "./specs/support.js";
import type { ConformanceContext, SpecName, StoreConformanceOptions } from "./harness.js";

export type { ConformanceContext, SpecName, StoreConformanceOptions } from "./harness.js";

/** Every spec, by the name `only` takes, in the order they run. */
export const CONFORMANCE_SPECS: Readonly<Record<SpecName, (ctx: ConformanceContext, it: SpecIt) => void>> = {
  "begin-run": beginRunSpec,
  "run-kind": runKindSpec,
  "save-task": saveTaskSpec,
  "commit-chain": commitChainSpec,
  reuse: reuseSpec,
  "run-status": runStatusSpec,
  "remove-task": removeTaskSpec,
  "delete-run": deleteRunSpec,
  "unknown-run": unknownRunSpec,
  "list-runs": listRunsSpec,
  calls: callsSpec,
  "import-export": importExportSpec,
  fencing: fencingSpec,
  leases: leasesSpec,
  durability: durabilitySpec,
  payloads: payloadsSpec,
  encoding: encodingSpec,
  "not-json": notJsonSpec,
  "run-ids": runIdsSpec,
  "task-names": taskNamesSpec,
  concurrency: concurrencySpec,
  "parallel-tasks": parallelTasksSpec,
  "output-hash": outputHashSpec,
  encryption: encryptionSpec,
};

/** Declares the conformance suite for one store, as a vitest `describe` block named after it. */
export function describeStoreConformance<S extends Store>(name: string, options: StoreConformanceOptions<S>): void {
  const names = Object.keys(CONFORMANCE_SPECS) as SpecName[];
  const unknown = (options.only ?? []).filter((spec) => !names.includes(spec));
  if (unknown.length > 0) throw new Error(`only names no conformance spec: ${unknown.join(", ")}; the specs are ${names.join(", ")}`);
  const selected = options.only ? names.filter((spec) => options.only!.includes(spec)) : names;

  describe(`${name} store conformance`, () => {
    let current: { store: S; others: Store[] } | undefined;

    beforeEach(async () => {
      current = { store: await options.open(), others: [] };
    });

    afterEach(async (context) => {
      const done = current;
      current = undefined;
      if (!done) return;
      const closed = await Promise.allSettled(done.others.filter((other) => other !== done.store).map((other) => other.close()));
      const failed = context.task.result?.state === "fail";
      await (options.close ? options.close(done.store, { failed }) : done.store.close());
      const failure = closed.find((result) => result.status === "rejected");
      if (failure) throw failure.reason;
    });

    const active = (): { store: S; others: Store[] } => {
      if (!current) throw new Error(`no ${name} store: open() did not finish, or a spec used the store outside a test`);
      return current;
    };
    const tamper = options.tamperOutput;
    const ctx: ConformanceContext = {
      get store(): Store {
        return active().store;
      },
      reopen: async () => {
        const { store, others } = active();
        if (!options.reopen) return store;
        const other = await options.reopen(store);
        others.push(other);
        return other;
      },
      tamperOutput: tamper && ((runId, task, output) => tamper(active().store, runId, task, output)),
      concurrent: options.concurrent ?? true,
      encryption: options.encryption ?? true,
    };

    const { it, unmatched } = specIt(options.knownBugs ?? {});
    for (const spec of selected) CONFORMANCE_SPECS[spec](ctx, it);
    beforeAll(() => {
      // Runs once every spec has declared its tests; with `only`, a bug may sit in a spec left out.
      if (!options.only && unmatched().length > 0) throw new Error(`knownBugs of the ${name} store name no conformance test: ${unmatched().join("; ")}`);
    });
  });
}
