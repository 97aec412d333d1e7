/**
 * OpenTelemetry spans for crewstate runs, built on the run observer seam: a span per kickoff of a
 * run, a child per task, and a grandchild per model or tool call (replayed ones too), following
 * the OpenTelemetry GenAI semantic conventions (`chat` and `execute_tool` operations) plus
 * crewstate's own `crewstate.*` attributes.
 *
 * Only `@opentelemetry/api` is used: without an SDK registered by the application every span is
 * a non-recording no-op, and this observer stops at the run span it cannot record.
 */
import { context, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type Tracer } from "@opentelemetry/api";
import type { LanguageModelV3Message, LanguageModelV3Prompt } from "@ai-sdk/provider";
import type { TokenUsage } from "../stores/store.js";
import type { CallEndEvent, CallStartEvent, RunEndEvent, RunObserver, RunStartEvent, TaskEndEvent, TaskStartEvent } from "../engine/observer.js";

export const TRACER_NAME = "crewstate";

/** Setting this to `1` puts prompts, answers and tool arguments and results into spans. */
export const CONTENT_ENV = "CREWSTATE_OTEL_CONTENT";

export interface TracingOptions {
  /** Record prompt and answer text, tool arguments and results. Default: `CREWSTATE_OTEL_CONTENT=1`. */
  content?: boolean;
  /** Default: the global tracer provider's tracer named `crewstate`. */
  tracer?: Tracer;
}

/** A run observer that traces one kickoff; `kickoff` installs one unless `tracing: false`. */
export function tracingObserver(options: TracingOptions = {}): RunObserver {
  return new RunTracer(options.tracer ?? trace.getTracer(TRACER_NAME), options.content ?? contentFromEnv());
}

function contentFromEnv(): boolean {
  const value = process.env[CONTENT_ENV];
  return value === "1" || value === "true";
}

interface Open {
  span: Span;
  context: Context;
}

class RunTracer implements RunObserver {
  /** Unset until the run starts, and for good when its span does not record (no SDK, or not sampled). */
  private run: Open | undefined;
  private runId = "";
  /** Open task spans by task name: parallel tasks are open at once. */
  private readonly tasks = new Map<string, Open>();
  /** Open call spans by task and journal position. */
  private readonly calls = new Map<string, Span>();
  private made = 0;
  private replayed = 0;
  private readonly models = new Map<string, { span: string; model: string; provider?: string }>();

  constructor(
    private readonly tracer: Tracer,
    private readonly content: boolean,
  ) {}

  onRunStart(event: RunStartEvent): void {
    const parent = context.active();
    const span = this.tracer.startSpan(
      `run ${event.crew}`,
      {
        kind: SpanKind.INTERNAL,
        attributes: {
          "crewstate.run.id": event.runId,
          "crewstate.crew": event.crew,
          "crewstate.store": event.store,
          "crewstate.attempt": event.attempt,
          "crewstate.tasks": event.tasks.length,
        },
      },
      parent,
    );
    if (!span.isRecording()) return;
    this.runId = event.runId;
    this.run = { span, context: trace.setSpan(parent, span) };
  }

  onTaskStart(event: TaskStartEvent): void {
    if (!this.run) return;
    const open = this.tasks.get(event.task);
    if (open) {
      // A retry: the same task span, at its new attempt.
      open.span.setAttributes({ "crewstate.attempt": event.attempt, "crewstate.fencing_token": event.fencingToken });
      open.span.addEvent("crewstate.retry", { "crewstate.attempt": event.attempt });
      return;
    }
    this.openTask(event.task, { "gen_ai.agent.name": event.agent, "crewstate.model": event.model, "crewstate.attempt": event.attempt, "crewstate.fencing_token": event.fencingToken });
  }

  onTaskEnd(event: TaskEndEvent): void {
    if (!this.run) return;
    // A reused or skipped task never started: its span is just its end.
    const { span } = this.tasks.get(event.task) ?? this.openTask(event.task, {});
    this.tasks.delete(event.task);
    span.setAttribute("crewstate.outcome", event.outcome);
    if (event.error !== undefined) fail(span, event.error);
    span.end();
  }

  onCallStart(event: CallStartEvent): void {
    if (!this.run) return;
    const task = this.tasks.get(event.task) ?? this.openTask(event.task, {});
    // The run and task are the parent's: a call span carries only what is its own.
    const attributes: Attributes = { "crewstate.position": event.position, "crewstate.replayed": event.replayed };
    let name: string;
    if (event.kind === "model") {
      const model = this.modelOf(event.name);
      name = model.span;
      attributes["gen_ai.operation.name"] = "chat";
      attributes["gen_ai.request.model"] = model.model;
      if (model.provider !== undefined) attributes["gen_ai.provider.name"] = model.provider;
      if (this.content && event.messages) Object.assign(attributes, promptAttributes(event.messages));
    } else {
      name = `execute_tool ${event.name}`;
      attributes["gen_ai.operation.name"] = "execute_tool";
      attributes["gen_ai.tool.name"] = event.name;
      if (this.content) attributes["gen_ai.tool.call.arguments"] = JSON.stringify(event.input);
    }
    // A replayed call leaves the process no more than any other internal step.
    const kind = event.kind === "model" && !event.replayed ? SpanKind.CLIENT : SpanKind.INTERNAL;
    this.calls.set(callKey(event), this.tracer.startSpan(name, { kind, attributes }, task.context));
  }

  onCallEnd(event: CallEndEvent): void {
    if (!this.run) return;
    const key = callKey(event);
    const span = this.calls.get(key);
    if (!span) return;
    this.calls.delete(key);
    if (event.replayed) this.replayed += 1;
    else if (event.error === undefined) this.made += 1;
    if (event.usage) span.setAttributes(event.replayed ? savedAttributes(event.usage) : usageAttributes(event.usage));
    if (this.content && event.error === undefined) {
      if (event.kind === "model") span.setAttribute("gen_ai.output.messages", JSON.stringify([{ role: "assistant", parts: textParts(String(event.output ?? "")) }]));
      else span.setAttribute("gen_ai.tool.call.result", JSON.stringify(event.output));
    }
    if (event.error !== undefined) fail(span, event.error);
    span.end();
  }

  onRunEnd(event: RunEndEvent): void {
    const run = this.run;
    if (!run) return;
    this.run = undefined;
    for (const { span } of this.tasks.values()) span.end();
    for (const span of this.calls.values()) span.end();
    run.span.setAttributes({ "crewstate.status": event.status, "crewstate.calls.made": this.made, "crewstate.calls.replayed": this.replayed });
    if (event.error !== undefined) fail(run.span, event.error);
    run.span.end();
  }

  /** A model ID split once into the span name and GenAI attributes. */
  private modelOf(id: string): { span: string; model: string; provider?: string } {
    let known = this.models.get(id);
    if (!known) {
      const { provider, model } = splitModelId(id);
      known = { span: `chat ${model}`, model, provider };
      this.models.set(id, known);
    }
    return known;
  }

  private openTask(task: string, attributes: Attributes): Open {
    const span = this.tracer.startSpan(
      `task ${task}`,
      { kind: SpanKind.INTERNAL, attributes: { "crewstate.run.id": this.runId, "crewstate.task": task, ...attributes } },
      this.run!.context,
    );
    const open = { span, context: trace.setSpan(this.run!.context, span) };
    this.tasks.set(task, open);
    return open;
  }
}

function callKey(event: CallStartEvent): string {
  return `${event.task}\u0000${event.position}`;
}

function fail(span: Span, message: string): void {
  span.setStatus({ code: SpanStatusCode.ERROR, message });
  span.setAttribute("error.type", "_OTHER");
}

/** `openai.chat:gpt-4o` → provider `openai`, model `gpt-4o`; a spec without a provider (`demo`) is all model. */
function splitModelId(id: string): { provider?: string; model: string } {
  const colon = id.indexOf(":");
  if (colon < 0) return { model: id };
  return { provider: id.slice(0, colon).split(".")[0], model: id.slice(colon + 1) };
}

function usageAttributes(usage: TokenUsage): Attributes {
  return { "gen_ai.usage.input_tokens": usage.inputTokens, "gen_ai.usage.output_tokens": usage.outputTokens, ...(usage.costUsd === null ? {} : { "crewstate.cost_usd": usage.costUsd }) };
}

/** What a replayed call would have cost: nothing was used, so no `gen_ai.usage.*`. */
function savedAttributes(usage: TokenUsage): Attributes {
  return {
    "crewstate.saved.input_tokens": usage.inputTokens,
    "crewstate.saved.output_tokens": usage.outputTokens,
    ...(usage.costUsd === null ? {} : { "crewstate.saved.cost_usd": usage.costUsd }),
  };
}

/** The GenAI conventions' `gen_ai.system_instructions` and `gen_ai.input.messages`, as JSON. */
function promptAttributes(prompt: LanguageModelV3Prompt): Attributes {
  const system = prompt.filter((m) => m.role === "system").flatMap((m) => textParts(m.content as string));
  const messages = prompt.filter((m) => m.role !== "system").map((m) => ({ role: m.role, parts: partsOf(m) }));
  return {
    ...(system.length > 0 ? { "gen_ai.system_instructions": JSON.stringify(system) } : {}),
    "gen_ai.input.messages": JSON.stringify(messages),
  };
}

function textParts(text: string): { type: "text"; content: string }[] {
  return text === "" ? [] : [{ type: "text", content: text }];
}

function partsOf(message: LanguageModelV3Message): unknown[] {
  if (typeof message.content === "string") return textParts(message.content);
  return message.content.map((part) => {
    switch (part.type) {
      case "text":
        return { type: "text", content: part.text };
      case "reasoning":
        return { type: "reasoning", content: part.text };
      case "tool-call":
        return { type: "tool_call", id: part.toolCallId, name: part.toolName, arguments: part.input };
      case "tool-result":
        return { type: "tool_call_response", id: part.toolCallId, response: "value" in part.output ? part.output.value : part.output };
      case "file":
        // The bytes stay out of the trace.
        return { type: "file", mime_type: part.mediaType };
      default:
        return { type: part.type };
    }
  });
}
