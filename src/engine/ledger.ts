import { CrewstateError, quote } from "../errors.js";
import type { CallRecord, JsonValue, RunEvent, Store, TokenUsage } from "../stores/store.js";

/**
 * The token and cost ledger: usage arithmetic, and the run budget that holds across restarts.
 * Every live model call is journaled with its usage and cost, and a journal that is discarded (a
 * stale rerun, an invalidation, answers that failed the schema) leaves its usage in the event that
 * discards it, so what a run has spent can always be summed again from the store.
 */

export interface Budget {
  /** Input plus output tokens the run may spend, over all its kickoffs. */
  maxTokens?: number;
  /** US dollars the run may spend, over all its kickoffs (calls with a known price). */
  maxCostUsd?: number;
}

export function emptyUsage(): TokenUsage {
  return { inputTokens: 0, outputTokens: 0, costUsd: null };
}

/** Adds `usage` into `total`. A cost stays null only while every cost added was unknown. */
export function addUsage(total: TokenUsage, usage: TokenUsage | null | undefined): TokenUsage {
  if (usage) {
    total.inputTokens += usage.inputTokens;
    total.outputTokens += usage.outputTokens;
    if (usage.costUsd !== null && usage.costUsd !== undefined) total.costUsd = (total.costUsd ?? 0) + usage.costUsd;
  }
  return total;
}

export function usageToJson(usage: TokenUsage): JsonValue {
  return { inputTokens: usage.inputTokens, outputTokens: usage.outputTokens, costUsd: usage.costUsd };
}

function usageFromJson(value: JsonValue | undefined): TokenUsage | null {
  if (!value || typeof value !== "object" || Array.isArray(value)) return null;
  const { inputTokens, outputTokens, costUsd } = value as Record<string, JsonValue>;
  if (typeof inputTokens !== "number" || typeof outputTokens !== "number") return null;
  return { inputTokens, outputTokens, costUsd: typeof costUsd === "number" ? costUsd : null };
}

/** Tokens and cost of journaled calls (copies from a recording carry none). */
export function usageOfCalls(calls: Iterable<CallRecord>): TokenUsage {
  const total = emptyUsage();
  for (const call of calls) addUsage(total, call.usage);
  return total;
}

/** What a run has spent so far: its journals' live calls plus the usage of journals discarded since. */
export async function spentSoFar(store: Store, runId: string, taskNames: string[], events: RunEvent[]): Promise<TokenUsage> {
  const total = emptyUsage();
  for (const task of taskNames) addUsage(total, usageOfCalls(await store.calls(runId, task)));
  for (const event of events) addUsage(total, usageFromJson(event.data?.discardedUsage));
  return total;
}

/** What a run has spent and what resuming has saved it, read from the store (a flow's child runs, say). */
export async function ledgerOf(store: Store, runId: string): Promise<{ spent: TokenUsage; saved: TokenUsage }> {
  const [run, events] = await Promise.all([store.getRun(runId), store.events(runId)]);
  return { spent: await spentSoFar(store, runId, run?.tasks.map((t) => t.name) ?? [], events), saved: savedSoFar(events) };
}

/** What resuming has saved a run: the usage of the calls answered from journals instead of made again. */
export function savedSoFar(events: RunEvent[]): TokenUsage {
  const total = emptyUsage();
  for (const event of events) if (event.type === "task_completed") addUsage(total, usageFromJson(event.data?.savedUsage));
  return total;
}

/** What a kickoff may still spend; checked before every live model call. */
export class BudgetGuard {
  constructor(
    private readonly budget: Budget,
    private readonly runId: string,
    private readonly spent: TokenUsage,
  ) {}

  /** Refuses the next call once the run has reached its budget. */
  check(task: string): void {
    const tokens = this.spent.inputTokens + this.spent.outputTokens;
    const over =
      this.budget.maxTokens !== undefined && tokens >= this.budget.maxTokens
        ? `${tokens} tokens spent of a budget of ${this.budget.maxTokens}`
        : this.budget.maxCostUsd !== undefined && (this.spent.costUsd ?? 0) >= this.budget.maxCostUsd
          ? `$${(this.spent.costUsd ?? 0).toFixed(4)} spent of a budget of $${this.budget.maxCostUsd}`
          : null;
    if (over) {
      throw new CrewstateError("BUDGET_EXCEEDED", `run ${quote(this.runId)} is over its budget (${over}); raise the budget to go on`, { runId: this.runId, task });
    }
  }

  record(usage: TokenUsage): void {
    addUsage(this.spent, usage);
  }
}
