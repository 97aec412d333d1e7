/**
 * The example store passes the conformance suite. Outside this repository, import
 * describeStoreConformance from "crewstate/testing".
 */
import { describeStoreConformance } from "../../src/testing/index.js";
import { MapStore } from "./map-store.js";

describeStoreConformance("map (example)", {
  open: async () => new MapStore(),
  tamperOutput: async (store, runId, task, output) => {
    (store as unknown as { runs: Map<string, { tasks: Map<string, { output: string }> }> }).runs.get(runId)!.tasks.get(task)!.output = output;
  },
});
