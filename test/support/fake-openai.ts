/**
 * A fake OpenAI-compatible Chat Completions server for tests that spawn the real CLI.
 *
 * It listens on 127.0.0.1 (random port) in the test process, so it counts the model calls a child
 * process makes: point the child at it with `server.env()` (OPENAI_BASE_URL + OPENAI_API_KEY) and
 * `--model openai:gpt-test`.
 *
 * Answers are deterministic: `answer-<sha256 of the last user message and any tool results after
 * it>`, so the same prompt always gets the same answer. Rules (`server.when(match, behaviour)`)
 * change that for requests whose **task prompt** (the first user message) contains `match`: a fixed
 * reply, a delay (or no answer at all, to kill the client mid-call), scripted HTTP failures, or
 * tool calls for a number of rounds. The response shape @ai-sdk/openai@3's chat model parses:
 * `choices[0].message` (content / tool_calls), `finish_reason`, `usage`; a request with
 * `stream: true` gets the same answer as server-sent `chat.completion.chunk`s, its text a word a
 * chunk, `streamDelayMs` apart (`FakeRequest.streamed` counts the chunks sent).
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeToolCall {
  name: string;
  /** The arguments, JSON-encoded in the response as OpenAI does. */
  args: Record<string, unknown>;
}

export interface FakeBehaviour {
  /** Answer with this text instead of the hash answer. */
  reply?: string;
  /** Wait this long before answering; "forever" never answers (until the client hangs up or the server closes). */
  delayMs?: number | "forever";
  /** Answer with this HTTP status and an OpenAI-style error body instead (429 and 5xx are retryable). */
  fail?: number;
  /** With `fail`: answer this JSON body instead of the OpenAI-style one (e.g. a server's own error shape). */
  failBody?: unknown;
  /**
   * Answer with these tool calls (finish_reason "tool_calls") while the conversation holds fewer
   * than `toolRounds` assistant tool-call turns; after that, answer with text as usual. A function
   * gets the 0-based round (the number of tool-call turns the conversation already holds).
   */
  toolCalls?: FakeToolCall[] | ((round: number) => FakeToolCall[]);
  /** How many tool-call rounds, default 1. */
  toolRounds?: number;
  /** How many matching requests this rule applies to; default every one. */
  times?: number;
  /** A streamed answer waits this long before each chunk after the first. */
  streamDelayMs?: number;
}

export interface FakeRequest {
  /** 0-based arrival order. */
  index: number;
  /** When it arrived, in ms (`performance.now()` of the test process). */
  at: number;
  path: string;
  model: string;
  authorization: string | undefined;
  /** The first user message: the task prompt, the same for every call of one agent loop. */
  taskPrompt: string;
  lastUserMessage: string;
  system: string;
  messages: ChatMessage[];
  toolNames: string[];
  /** HTTP status answered, or null while pending / if the client went away first. */
  status: number | null;
  /** The text answered, if any. */
  answer: string | null;
  /** The tool calls answered, if any. */
  toolCalls: FakeToolCall[] | null;
  /** True when the client hung up before the answer was sent. */
  abandoned: boolean;
  /** The token usage reported with a 200 answer (null otherwise), as OpenAI's `usage` counts it. */
  usage: { promptTokens: number; completionTokens: number } | null;
  /** Whether the client asked for a stream. */
  stream: boolean;
  /** Chunks of a streamed answer sent so far. */
  streamed: number;
}

/** A Chat Completions message as the client sent it. */
export interface ChatMessage {
  role: string;
  content?: unknown;
  tool_calls?: unknown[];
  tool_call_id?: string;
}

/** A substring of (or pattern for) the task prompt, or a predicate on the whole request. */
export type Match = string | RegExp | ((request: FakeRequest) => boolean);

interface Rule extends FakeBehaviour {
  match: Match;
  used: number;
}

/** The key the server expects as `Authorization: Bearer …`; `env()` hands it to the client. */
export const API_KEY = "test";

/** The text answer the server gives by default for a conversation whose last user message is `lastUserMessage`. */
export function answerFor(lastUserMessage: string, toolResults: string[] = []): string {
  const hash = createHash("sha256").update([lastUserMessage, ...toolResults].join("\n\u0000")).digest("hex");
  return `answer-${hash.slice(0, 24)}`;
}

export class FakeOpenAI {
  readonly requests: FakeRequest[] = [];
  private rules: Rule[] = [];
  private waiters: { match: Match; count: number; resolve: () => void }[] = [];
  private readonly pending = new Set<() => void>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** Starts a server on 127.0.0.1 at a random free port. */
  static async start(): Promise<FakeOpenAI> {
    let fake: FakeOpenAI | undefined;
    const server = createServer((req, res) => {
      fake!.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { error: { message: `fake server bug: ${String(error)}`, type: "server_error" } });
      });
    });
    server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    fake = new FakeOpenAI(server, (server.address() as AddressInfo).port);
    return fake;
  }

  /** A server for one test, closed when it finishes; `context` is the test's (works in concurrent tests). */
  static async forTest(context: { onTestFinished(fn: () => Promise<void>): void }): Promise<FakeOpenAI> {
    const fake = await FakeOpenAI.start();
    context.onTestFinished(() => fake.close());
    return fake;
  }

  /** The base URL to give as OPENAI_BASE_URL. */
  get url(): string {
    return `http://127.0.0.1:${this.port}/v1`;
  }

  /** Environment for a child process that should talk to this server. */
  env(): Record<string, string> {
    return { OPENAI_BASE_URL: this.url, OPENAI_API_KEY: API_KEY };
  }

  /**
   * Changes how requests whose task prompt contains `match` (or matches it, or that pass it) are
   * answered. The newest rule that matches and is not used up wins; rules do not combine.
   */
  when(match: Match, behaviour: FakeBehaviour): this {
    this.rules.unshift({ ...behaviour, match, used: 0 });
    return this;
  }

  /** Forgets every request and rule, and releases requests still waiting. */
  reset(): void {
    this.requests.length = 0;
    this.rules = [];
    this.waiters = [];
    for (const release of [...this.pending]) release();
  }

  /** How many requests arrived (answered or not) whose task prompt matches; all of them without `match`. */
  count(match?: Match): number {
    return match === undefined ? this.requests.length : this.requests.filter((r) => matches(match, r)).length;
  }

  /** Requests per distinct task prompt. */
  countsByPrompt(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const r of this.requests) counts.set(r.taskPrompt, (counts.get(r.taskPrompt) ?? 0) + 1);
    return counts;
  }

  /** Resolves once `count` requests matching `match` have arrived (counting those already here). */
  waitFor(match: Match, count = 1, timeoutMs = 30_000): Promise<void> {
    if (this.count(match) >= count) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`fake OpenAI server: waited ${timeoutMs} ms for ${count} request(s) matching ${String(match)}, got ${this.count(match)}`));
      }, timeoutMs);
      const waiter = {
        match,
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** Stops listening and drops every connection (pending answers included). */
  async close(): Promise<void> {
    for (const release of [...this.pending]) release();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "").split("?")[0]!;
    if (req.method !== "POST" || path !== "/v1/chat/completions") {
      sendJson(res, 404, { error: { message: `fake server: no route ${req.method} ${path}`, type: "invalid_request_error" } });
      return;
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(await readBody(req)) as Record<string, unknown>;
    } catch {
      sendJson(res, 400, { error: { message: "fake server: body is not JSON", type: "invalid_request_error" } });
      return;
    }
    const messages = (Array.isArray(body.messages) ? body.messages : []) as ChatMessage[];
    const users = messages.filter((m) => m.role === "user").map((m) => textOf(m.content));
    const lastUserAt = messages.map((m) => m.role).lastIndexOf("user");
    const request: FakeRequest = {
      index: this.requests.length,
      at: performance.now(),
      path,
      model: String(body.model),
      authorization: req.headers.authorization,
      taskPrompt: users[0] ?? "",
      lastUserMessage: users[users.length - 1] ?? "",
      system: messages.filter((m) => m.role === "system").map((m) => textOf(m.content)).join("\n"),
      messages,
      toolNames: Array.isArray(body.tools) ? body.tools.map((t: { function?: { name?: string } }) => String(t.function?.name)) : [],
      status: null,
      answer: null,
      toolCalls: null,
      abandoned: false,
      usage: null,
      stream: body.stream === true,
      streamed: 0,
    };
    this.requests.push(request);
    this.notify();
    if (request.authorization !== `Bearer ${API_KEY}`) {
      // Counted, then refused (401 is not retried): a client that lost its key fails loudly. Like
      // some OpenAI-compatible servers, the message echoes the key and header it got.
      request.status = 401;
      const key = request.authorization?.replace(/^Bearer /, "") ?? "(none)";
      sendJson(res, 401, {
        error: {
          message: `fake server: Incorrect API key provided: ${key} (header "Authorization: ${request.authorization ?? ""}"); expected "Authorization: Bearer ${API_KEY}"`,
          type: "invalid_request_error",
          code: "invalid_api_key",
        },
      });
      return;
    }

    const rule = this.rules.find((r) => (r.times === undefined || r.used < r.times) && matches(r.match, request));
    if (rule) rule.used += 1;

    let gone = false;
    res.on("close", () => {
      if (!res.writableFinished) {
        gone = true;
        request.abandoned = true;
      }
    });
    if (rule?.delayMs !== undefined) {
      await new Promise<void>((resolve) => {
        const release = () => {
          this.pending.delete(release);
          clearTimeout(timer);
          resolve();
        };
        const timer = rule.delayMs === "forever" ? undefined : setTimeout(release, rule.delayMs);
        this.pending.add(release);
        res.on("close", release);
      });
    }
    if (gone || res.destroyed) return;

    if (rule?.fail !== undefined) {
      request.status = rule.fail;
      if (rule.failBody !== undefined) {
        sendJson(res, rule.fail, rule.failBody);
        return;
      }
      sendJson(res, rule.fail, {
        error: {
          message: rule.fail === 429 ? "fake server: rate limit reached, try again" : `fake server: scripted failure ${rule.fail}`,
          type: rule.fail === 429 ? "rate_limit_error" : "server_error",
          code: rule.fail === 429 ? "rate_limit_exceeded" : null,
        },
      });
      return;
    }

    const afterLastUser = messages.slice(lastUserAt + 1);
    const toolTurns = messages.filter((m) => m.role === "assistant" && Array.isArray(m.tool_calls) && m.tool_calls.length > 0).length;
    const message: Record<string, unknown> = { role: "assistant", content: null };
    let finishReason = "stop";
    if (rule?.toolCalls && toolTurns < (rule.toolRounds ?? 1)) {
      const calls = typeof rule.toolCalls === "function" ? rule.toolCalls(toolTurns) : rule.toolCalls;
      request.toolCalls = calls;
      message.tool_calls = calls.map((call, i) => ({
        id: `call_${toolTurns}_${i}`,
        type: "function",
        function: { name: call.name, arguments: JSON.stringify(call.args) },
      }));
      finishReason = "tool_calls";
    } else {
      const toolResults = afterLastUser.filter((m) => m.role === "tool").map((m) => textOf(m.content));
      request.answer = rule?.reply ?? answerFor(request.lastUserMessage, toolResults);
      message.content = request.answer;
    }
    const promptChars = messages.reduce((n, m) => n + textOf(m.content).length, 0);
    const completionChars = (request.answer ?? JSON.stringify(message.tool_calls ?? "")).length;
    const usage = { prompt_tokens: Math.ceil(promptChars / 4), completion_tokens: Math.ceil(completionChars / 4) };
    request.status = 200;
    request.usage = { promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens };
    if (request.stream) {
      await this.stream(res, request, message, finishReason, usage, rule?.streamDelayMs ?? 0);
      return;
    }
    sendJson(res, 200, {
      id: `chatcmpl-fake-${request.index}`,
      object: "chat.completion",
      created: 1_700_000_000,
      model: request.model,
      choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason }],
      usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
    });
  }

  /** The answer as server-sent chunks: the text a word a chunk (tool calls in one), then the finish with usage. */
  private async stream(
    res: ServerResponse,
    request: FakeRequest,
    message: Record<string, unknown>,
    finishReason: string,
    usage: { prompt_tokens: number; completion_tokens: number },
    delayMs: number,
  ): Promise<void> {
    const chunk = (delta: Record<string, unknown>, finish: string | null, extra: Record<string, unknown> = {}) => ({
      id: `chatcmpl-fake-${request.index}`,
      object: "chat.completion.chunk",
      created: 1_700_000_000,
      model: request.model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      ...extra,
    });
    const deltas: Record<string, unknown>[] = [];
    if (typeof message.content === "string") {
      for (const [i, piece] of (message.content.match(/\s*\S+\s*|\s+/g) ?? [""]).entries()) deltas.push(i === 0 ? { role: "assistant", content: piece } : { content: piece });
    }
    if (Array.isArray(message.tool_calls)) {
      deltas.push({ role: "assistant", tool_calls: message.tool_calls.map((call: Record<string, unknown>, index) => ({ index, ...call })) });
    }
    const events = [
      ...deltas.map((delta) => chunk(delta, null)),
      chunk({}, finishReason, { usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens } }),
    ];
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    for (const [i, event] of events.entries()) {
      if (i > 0 && delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      if (res.destroyed) return;
      res.write(`data: ${JSON.stringify(event)}\n\n`);
      request.streamed += 1;
      this.notify();
    }
    res.end("data: [DONE]\n\n");
  }

  private notify(): void {
    this.waiters = this.waiters.filter((w) => {
      if (this.count(w.match) < w.count) return true;
      w.resolve();
      return false;
    });
  }
}

function matches(match: Match, request: FakeRequest): boolean {
  if (typeof match === "function") return match(request);
  return typeof match === "string" ? request.taskPrompt.includes(match) : match.test(request.taskPrompt);
}

/** Message content as text: a string, or the text parts of a content array. */
function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content.map((part: { type?: string; text?: string }) => (part?.type === "text" ? (part.text ?? "") : "")).join("");
  }
  return "";
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}
