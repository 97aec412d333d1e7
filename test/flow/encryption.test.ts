/**
 * Flows under encryption at rest: step records and state are sealed, step input hashes keyed; a
 * rerun reuses every step, and so does one after a rekey (the stored parts show nothing changed).
 */
import { describe, expect, it } from "vitest";
import { runFlow } from "../../src/index.js";
import { MemoryStore } from "../../src/stores/memory/store.js";
import { rekeyRuns } from "../../src/stores/rekey.js";
import { Calls, loopFlow } from "./fixtures.js";

const K1 = { key: Buffer.alloc(32, 1).toString("base64"), keyId: "k1" };
const K2 = { key: Buffer.alloc(32, 2).toString("base64"), keyId: "k2" };

describe("flows with encryption at rest", () => {
  it("seal state and results, key step hashes, and reuse every step across a rerun and a rekey", async () => {
    const store = new MemoryStore().useEncryption(K1);
    const calls = new Calls();
    const first = await runFlow(loopFlow(calls, { acceptAt: 2 }), { runId: "loop-1", store });
    expect(first.status).toBe("completed");
    const raw = JSON.stringify(await store.exportRun("loop-1", { sealed: true }));
    expect(raw).not.toContain("durable agents");
    const plainStore = new MemoryStore();
    await runFlow(loopFlow(new Calls(), { acceptAt: 2 }), { runId: "loop-1", store: plainStore });
    const plainHashes = (await plainStore.getRun("loop-1"))!.tasks.map((t) => t.inputHash);
    const keyedHashes = (await store.getRun("loop-1"))!.tasks.map((t) => t.inputHash);
    expect(keyedHashes.filter((h) => h !== null && plainHashes.includes(h))).toEqual([]);

    calls.reset();
    const again = await runFlow(loopFlow(calls, { acceptAt: 2 }), { runId: "loop-1", store });
    expect(again.steps.every((s) => s.outcome === "reused")).toBe(true);
    expect(calls.counts.size).toBe(0);

    store.useEncryption({ ...K2, previous: [K1] });
    await rekeyRuns(store);
    store.useEncryption(K2);
    const afterRekey = await runFlow(loopFlow(calls, { acceptAt: 2 }), { runId: "loop-1", store });
    expect(afterRekey.steps.every((s) => s.outcome === "reused")).toBe(true);
    expect(calls.counts.size).toBe(0);
    expect(afterRekey.state).toEqual(first.state);
  });
});
