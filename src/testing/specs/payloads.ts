import { describe, expect } from "vitest";
import { MAX_PAYLOAD_BYTES } from "../../stores/codec.js";
import { beginSampleRun, call, completedTask, expectCode, observe, type ConformanceContext, type SpecIt } from "./support.js";

/** About `bytes` bytes of UTF-8 mixing 1-, 2-, 3- and 4-byte characters, quotes and newlines. */
function bigText(bytes: number): string {
  const unit = 'ascii "quoted" \\ line\n é ü € ✓ 中文 😀 🧾 ';
  return unit.repeat(Math.ceil(bytes / Buffer.byteLength(unit))).slice(0, bytes);
}

export function payloadsSpec(ctx: ConformanceContext, it: SpecIt): void {
  describe("large payloads", () => {
    it("round-trips 1 MB outputs, structured outputs, inputs, event data and call responses", async () => {
      const MB = 1024 * 1024;
      const output = bigText(MB);
      const structured = { pages: Array.from({ length: 64 }, (_, i) => ({ page: i, text: bigText(MB / 64) })) };
      const input = bigText(MB);
      await ctx.store.beginRun({ runId: "big", crew: "c", inputs: { document: input } });
      await ctx.store.saveTask("big", completedTask("extract", { output, structured }), { type: "task_completed", data: { transcript: bigText(MB / 4) } });
      await ctx.store.recordCall("big", call("extract", 0, { response: { text: output } }));

      for (const store of [ctx.store, await ctx.reopen()]) {
        const run = (await store.getRun("big"))!;
        expect(run.inputs.document === input).toBe(true);
        expect(run.tasks[0]!.output === output).toBe(true);
        expect(run.tasks[0]!.structured).toEqual(structured);
        expect((await store.events("big"))[1]!.data).toEqual({ transcript: bigText(MB / 4) });
        expect(((await store.calls("big", "extract"))[0]!.response as { text: string }).text === output).toBe(true);
      }
    });

    it(`refuses a payload over ${MAX_PAYLOAD_BYTES} bytes with PAYLOAD_TOO_LARGE, writing nothing`, async () => {
      await beginSampleRun(ctx.store, "r");
      const before = await observe(ctx.store, "r");
      const huge = "x".repeat(MAX_PAYLOAD_BYTES);
      await expectCode(() => ctx.store.saveTask("r", completedTask("a", { output: huge }), { type: "task_completed" }), "PAYLOAD_TOO_LARGE");
      await expectCode(() => ctx.store.recordCall("r", call("a", 0, { response: huge })), "PAYLOAD_TOO_LARGE");
      expect(await observe(ctx.store, "r")).toEqual(before);
      expect(await ctx.store.calls("r", "a")).toEqual([]);
    });
  });
}
