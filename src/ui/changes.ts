import type { RunSummary, Store } from "../stores/store.js";

export interface RunChange {
  runId: string;
  status: string;
  updatedAt: string;
}

/**
 * Tells listeners which runs changed, from whatever process or worker changed them: it looks at
 * the store's run list every `everyMs` while anyone listens, and reports each run whose status or
 * `updatedAt` moved (every commit touches the run's `updatedAt`). The list it saw last also
 * answers the runs page while it is fresh, so a store of many runs is listed once per look, not
 * once per request.
 */
export class ChangeFeed {
  private readonly listeners = new Set<(change: RunChange) => void>();
  private seen = new Map<string, string>();
  private last: { at: number; runs: RunSummary[] } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private looking = false;

  constructor(
    private readonly store: Store,
    private readonly everyMs = 500,
  ) {}

  subscribe(listener: (change: RunChange) => void): () => void {
    this.listeners.add(listener);
    if (this.timer === undefined) {
      void this.look(false);
      this.timer = setInterval(() => void this.look(true), this.everyMs);
      this.timer.unref();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stop();
    };
  }

  /** The store's runs, newest first, as of at most `everyMs` ago. */
  async runs(): Promise<RunSummary[]> {
    if (this.last && performance.now() - this.last.at < this.everyMs) return this.last.runs;
    const runs = await this.store.listRuns();
    this.last = { at: performance.now(), runs };
    return runs;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async look(tell: boolean): Promise<void> {
    if (this.looking) return;
    this.looking = true;
    try {
      const runs = await this.store.listRuns();
      this.last = { at: performance.now(), runs };
      const now = new Map(runs.map((r) => [r.runId, `${r.status} ${r.updatedAt}`]));
      if (tell) {
        for (const [runId, mark] of now) {
          if (this.seen.get(runId) === mark) continue;
          const [status, updatedAt] = mark.split(" ") as [string, string];
          for (const listener of this.listeners) listener({ runId, status, updatedAt });
        }
      }
      this.seen = now;
    } catch {
      // The store is briefly unreachable: the next look tells what changed meanwhile.
    } finally {
      this.looking = false;
    }
  }
}
