/** A provider's failure keeps what the server said: its status and the message in its body. */
import { createOpenAI } from "@ai-sdk/openai";
import { describe, expect, it } from "vitest";
import { Agent, Crew, MemoryStore, Task } from "../../src/index.js";
import { API_KEY, FakeOpenAI } from "../support/fake-openai.js";

async function failingRun(server: FakeOpenAI): Promise<unknown> {
  const model = createOpenAI({ baseURL: server.url, apiKey: API_KEY }).chat("gpt-test");
  const agent = new Agent({ role: "R", goal: "G", backstory: "B", model });
  const task = new Task({ name: "work", description: "WORK on it", expectedOutput: "e", agent, retries: 0 });
  const crew = new Crew({ name: "errors", tasks: [task], store: new MemoryStore() });
  return crew.kickoff({ runId: "e" }).then(() => undefined, (error: unknown) => error);
}

describe("provider errors", () => {
  it("name the HTTP status and the message of a JSON error body the provider does not parse", async (context) => {
    const server = await FakeOpenAI.forTest(context);
    server.when("WORK", { fail: 500, failBody: { object: "error", message: "model gpt-test is not loaded on this server", code: 500 } });
    const error = (await failingRun(server)) as Error & { code: string };
    expect(error.code).toBe("TASK_FAILED");
    expect(error.message).toMatch(/HTTP 500/);
    expect(error.message).toContain("model gpt-test is not loaded on this server");
  });

  it("name the status and an OpenAI-style error message once", async (context) => {
    const server = await FakeOpenAI.forTest(context);
    server.when("WORK", { fail: 500, failBody: { error: { message: "upstream timed out", type: "server_error" } } });
    const error = (await failingRun(server)) as Error;
    expect(error.message).toMatch(/HTTP 500/);
    expect(error.message.split("upstream timed out")).toHaveLength(2);
  });

  it("name the status and a plain-text body", async (context) => {
    const server = await FakeOpenAI.forTest(context);
    server.when("WORK", { fail: 502, failBody: { error: "bad gateway: no upstream for gpt-test" } });
    const error = (await failingRun(server)) as Error;
    expect(error.message).toMatch(/HTTP 502/);
    expect(error.message).toContain("bad gateway: no upstream for gpt-test");
  });
});
