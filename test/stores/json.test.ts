import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { JsonFileStore } from "../../src/stores/json-file-store.js";
import type { Store } from "../../src/stores/store.js";
import { describeStoreConformance } from "./conformance.js";

// Each test gets a folder of its own: removed afterwards, kept (and named) when the test failed.
describeStoreConformance("json", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "crewstate-json-conformance-"));
  const file = path.join(dir, "crew_state.json");
  const handles: Store[] = [await JsonFileStore.open(file)];
  return {
    store: handles[0]!,
    reopen: async () => {
      handles.push(await JsonFileStore.open(file));
      return handles.at(-1)!;
    },
    cleanup: async (outcome) => {
      const closed = await Promise.allSettled(handles.map((store) => store.close()));
      if (outcome?.failed) console.warn(`kept ${dir} of the failed test`);
      else fs.rmSync(dir, { recursive: true, force: true });
      const failure = closed.find((result) => result.status === "rejected");
      if (failure) throw failure.reason;
    },
  };
});
