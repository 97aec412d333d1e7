/**
 * Model specs beyond `openai:` — `anthropic:`, `google:`, `ollama:` — each against a loopback fake
 * server speaking that provider's API; a missing provider package; offline resolution for plan.
 */
import { generateText } from "ai";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { resolveModel } from "../../src/llm/resolve-model.js";
import { endpointOf, importProvider, PROVIDERS } from "../../src/llm/providers.js";

interface Seen {
  path: string;
  headers: IncomingMessage["headers"];
  body: Record<string, unknown>;
}

/** A loopback server answering every POST with `reply(path)`, recording what it was sent. */
async function fakeServer(context: { onTestFinished(fn: () => Promise<void>): void }, reply: (path: string) => unknown) {
  const seen: Seen[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = (req.url ?? "").split("?")[0]!;
      seen.push({ path, headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as Record<string, unknown> });
      const text = JSON.stringify(reply(path));
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  context.onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { seen, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe("resolveModel", () => {
  it("anthropic:<model> speaks the Messages API at ANTHROPIC_BASE_URL with ANTHROPIC_API_KEY", async (context) => {
    const fake = await fakeServer(context, () => ({
      id: "msg_1", type: "message", role: "assistant", model: "claude-test",
      content: [{ type: "text", text: "hello from anthropic" }],
      stop_reason: "end_turn", stop_sequence: null, usage: { input_tokens: 7, output_tokens: 3 },
    }));
    const env = { ANTHROPIC_BASE_URL: `${fake.origin}/v1`, ANTHROPIC_API_KEY: "k-anthropic" };
    const resolved = await resolveModel("anthropic:claude-test", env);
    expect(resolved).toMatchObject({ id: "anthropic:claude-test", isDemo: false, endpoint: fake.origin.slice("http://".length) });
    const { text } = await generateText({ model: resolved.model, prompt: "hi", maxRetries: 0 });
    expect(text).toBe("hello from anthropic");
    expect(fake.seen[0]).toMatchObject({ path: "/v1/messages", body: { model: "claude-test" } });
    expect(fake.seen[0]!.headers["x-api-key"]).toBe("k-anthropic");
  });

  it("google:<model> speaks generateContent at GOOGLE_GENERATIVE_AI_BASE_URL with GOOGLE_GENERATIVE_AI_API_KEY", async (context) => {
    const fake = await fakeServer(context, () => ({
      candidates: [{ content: { role: "model", parts: [{ text: "hello from google" }] }, finishReason: "STOP", index: 0 }],
      usageMetadata: { promptTokenCount: 7, candidatesTokenCount: 3, totalTokenCount: 10 },
    }));
    const env = { GOOGLE_GENERATIVE_AI_BASE_URL: `${fake.origin}/v1beta`, GOOGLE_GENERATIVE_AI_API_KEY: "k-google" };
    const resolved = await resolveModel("google:gemini-test", env);
    expect(resolved).toMatchObject({ id: "google:gemini-test", endpoint: fake.origin.slice("http://".length) });
    const { text } = await generateText({ model: resolved.model, prompt: "hi", maxRetries: 0 });
    expect(text).toBe("hello from google");
    expect(fake.seen[0]!.path).toBe("/v1beta/models/gemini-test:generateContent");
    expect(fake.seen[0]!.headers["x-goog-api-key"]).toBe("k-google");
  });

  it("ollama:<model> speaks Ollama's /api/chat at OLLAMA_BASE_URL, with no key", async (context) => {
    const fake = await fakeServer(context, () => ({
      model: "llama-test", created_at: "2026-01-01T00:00:00Z",
      message: { role: "assistant", content: "hello from ollama" },
      done: true, done_reason: "stop", prompt_eval_count: 7, eval_count: 3, total_duration: 1000,
    }));
    const resolved = await resolveModel("ollama:llama-test", { OLLAMA_BASE_URL: `${fake.origin}/api` });
    expect(resolved).toMatchObject({ id: "ollama:llama-test", endpoint: fake.origin.slice("http://".length) });
    const { text } = await generateText({ model: resolved.model, prompt: "hi", maxRetries: 0 });
    expect(text).toBe("hello from ollama");
    expect(fake.seen[0]).toMatchObject({ path: "/api/chat", body: { model: "llama-test" } });
  });

  it("asks for the provider's key, naming its variable", async () => {
    await expect(resolveModel("anthropic:claude-test", {})).rejects.toMatchObject({ code: "MISSING_API_KEY", message: expect.stringContaining("ANTHROPIC_API_KEY") });
    await expect(resolveModel("google:gemini-test", {})).rejects.toMatchObject({ code: "MISSING_API_KEY", message: expect.stringContaining("GOOGLE_GENERATIVE_AI_API_KEY") });
  });

  it("a provider package that is not installed is one MISSING_PACKAGE line naming the npm install", async () => {
    const missing = { ...PROVIDERS.anthropic!, package: "@crewstate-test/no-such-provider" };
    const error = await importProvider("anthropic", missing, "anthropic:claude-test").then(() => undefined, (e: unknown) => e as Error & { code: string });
    expect(error?.code).toBe("MISSING_PACKAGE");
    expect(error?.message).toContain("npm install @crewstate-test/no-such-provider");
    expect(error?.message).not.toContain("\n");
  });

  it("offline (plan, replay) resolves any provider's spec without a key, and names its endpoint", async () => {
    for (const spec of ["openai:gpt-4o-mini", "anthropic:claude-test", "google:gemini-test", "ollama:llama-test"]) {
      const resolved = await resolveModel(spec, {}, { offline: true });
      expect(resolved.id).toBe(spec);
      expect(resolved.endpoint).toMatch(/\./);
    }
  });

  it("an endpoint never carries the credentials of its base URL", () => {
    expect(endpointOf("http://user:secret@127.0.0.1:8080/v1")).toBe("127.0.0.1:8080");
  });

  it("refuses an unknown provider, listing the supported specs", async () => {
    await expect(resolveModel("mistral:large", {})).rejects.toMatchObject({ code: "UNKNOWN_MODEL", message: expect.stringMatching(/anthropic:<model>.*google:<model>.*ollama:<model>/) });
  });
});
