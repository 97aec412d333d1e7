/**
 * `crewstate ui` in a real browser (issue 11): the runs list, a run's timeline and task details,
 * an approval from the page, live updates, and escaped output. Each test starts the server
 * in-process over a SQLite store prepared by running crews on the `demo` model.
 *
 * `CREWSTATE_UI_SCREENSHOT=1` also writes docs/ui.png (the README's screenshot).
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { tool } from "ai";
import { chromium, type Browser, type Locator, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { Agent, Crew, Task, openStore } from "../../src/index.js";
import { kickoff } from "../../src/engine/kickoff.js";
import { editTaskOutput } from "../../src/engine/operator.js";
import { startUi } from "../../src/ui/server.js";
import { REPO_ROOT, assertBuilt, runCli } from "../support/cli.js";
import { CHROMIUM, SKIP_BROWSER } from "./browser.js";

type Ui = Awaited<ReturnType<typeof startUi>>;

const lookupPolicy = tool({
  description: "Look up a policy's status and deductible by its policy number.",
  inputSchema: z.object({ policyNumber: z.string() }),
  execute: async ({ policyNumber }) => ({ policyNumber, status: "active", deductibleUsd: 1000 }),
});

/** The tutorial's researcher, on the demo model, with its policy lookup. */
function claimsResearcher(): Agent {
  return new Agent({
    role: "Claims Researcher",
    goal: "Collect relevant facts from the case notes",
    backstory: "You work on insurance operations and summarize case details accurately.",
    tools: { lookup_policy: lookupPolicy },
    model: "demo",
  });
}

/** The tutorial's crew: facts from case notes (with a policy lookup), then a triage note. */
function claimsCrew(options: { review?: boolean } = {}): Crew {
  const researcher = claimsResearcher();
  const analyze = new Task({
    name: "analyze_task",
    description: "Review the case notes and extract key facts: policy number, loss date, and issue summary.\n\nCase notes:\n{notes}",
    expectedOutput: "A concise bullet list with the extracted facts.",
    agent: researcher,
    humanReview: options.review ?? false,
  });
  const draft = new Task({
    name: "draft_task",
    description: "Turn the extracted facts into an internal triage note for the claims team, with the policy's status.",
    expectedOutput: "A short internal note with next actions.",
    agent: researcher,
  });
  return new Crew({ name: "claims-triage", agents: [researcher], tasks: [analyze, draft] });
}

/** The claims crew with two checks in parallel between the facts and the note. */
function parallelCrew(): Crew {
  const researcher = claimsResearcher();
  const reviewer = new Agent({ role: "Claims Reviewer", goal: "Check claims against policy and history", backstory: "Thorough and fair.", model: "demo" });
  const analyze = new Task({
    name: "analyze_task",
    description: "Review the case notes and extract key facts: policy number, loss date, and issue summary.\n\nCase notes:\n{notes}",
    expectedOutput: "A concise bullet list with the extracted facts.",
    agent: researcher,
  });
  const coverage = new Task({ name: "coverage_task", description: "Check which policy terms cover the loss.", expectedOutput: "The terms that apply.", agent: reviewer, asyncExecution: true, context: [analyze] });
  const history = new Task({ name: "history_task", description: "Look for earlier claims on the same policy.", expectedOutput: "Earlier claims, if any.", agent: reviewer, asyncExecution: true, context: [analyze] });
  const draft = new Task({
    name: "draft_task",
    description: "Turn the facts and checks into an internal triage note for the claims team, with next actions.",
    expectedOutput: "A short internal note with next actions.",
    agent: researcher,
    context: [analyze, coverage, history],
  });
  return new Crew({ name: "claims-triage", agents: [researcher, reviewer], tasks: [analyze, coverage, history, draft] });
}

/** One task, whose demo model takes `CREWSTATE_DEMO_DELAY_MS` per call. */
function slowCrew(): Crew {
  const writer = new Agent({ role: "Writer", goal: "Write", backstory: "Patient.", model: "demo" });
  const task = new Task({ name: "write_task", description: "Write a one-line summary of {topic}.", expectedOutput: "One line.", agent: writer });
  return new Crew({ name: "slow-writer", agents: [writer], tasks: [task] });
}

const NOTES = "Policy POL-4471. Water damage reported on 2026-03-02 after a pipe burst in the kitchen.";

let browser: Browser;
let dir: string;
let storeUrl: string;
let ui: Ui | null = null;
let page: Page;
let dialogs: string[];
/** Script errors and console errors of the page (a CSP violation is one), besides API answers such as a 404: none expected. */
let problems: string[];

if (CHROMIUM === null && process.env.CI) {
  describe("crewstate ui in a browser", () => {
    it("has a browser to run in", () => {
      throw new Error("no chromium found (set CREWSTATE_CHROMIUM, or install Debian's chromium): the browser tests must run on CI");
    });
  });
}

describe.skipIf(SKIP_BROWSER || CHROMIUM === null)("crewstate ui in a browser", () => {
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM!, args: ["--no-sandbox"] });
  });

  afterAll(async () => {
    await browser?.close();
  });

  afterEach(async () => {
    const seen = problems ?? [];
    problems = [];
    await page?.context().close();
    await ui?.close();
    ui = null;
    delete process.env.CREWSTATE_DEMO_DELAY_MS;
    if (dir) rmSync(dir, { recursive: true, force: true });
    expect(seen).toEqual([]);
  });

  /** A fresh store, and the page signed in to a server over it. */
  async function open(prepare: () => Promise<void>, hash = "#/"): Promise<Page> {
    dir = mkdtempSync(path.join(os.tmpdir(), "crewstate-ui-"));
    storeUrl = `sqlite:${path.join(dir, "state.db")}`;
    await prepare();
    ui = await startUi({ store: storeUrl, port: 0 });
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    context.setDefaultTimeout(5_000); // a missing element fails the test quickly, not at its timeout
    page = await context.newPage();
    dialogs = [];
    problems = [];
    page.on("pageerror", (error) => problems.push(`pageerror: ${error.message}`));
    page.on("console", (message) => {
      if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) problems.push(`console: ${message.text()}`);
    });
    page.on("dialog", (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    await page.goto(ui.url);
    if (hash !== "#/") await page.goto(`${ui.origin}/${hash}`);
    return page;
  }

  /** An attribute of each element the locator finds, in order. */
  const attrs = (locator: Locator, name: string) => locator.evaluateAll((nodes, attr) => nodes.map((node) => node.getAttribute(attr)), name);
  const row = (p: Page, runId: string) => p.locator(`#runs-table tr[data-run="${runId}"]`);
  const timelineRow = (p: Page, task: string) => p.locator(`#timeline .row[data-task="${task}"]`);

  it("lists a finished run and a paused one, newest first, and filters by status", async () => {
    const p = await open(async () => {
      await kickoff(claimsCrew(), { store: storeUrl, runId: "claim-done", inputs: { notes: NOTES } });
      await kickoff(claimsCrew({ review: true }), { store: storeUrl, runId: "claim-review", inputs: { notes: NOTES } });
    });
    await expect.poll(() => row(p, "claim-done").locator(".badge").textContent()).toBe("completed");
    expect(await row(p, "claim-review").locator(".badge").textContent()).toBe("paused");
    expect(await attrs(p.locator("#runs-table tbody tr"), "data-run")).toEqual(["claim-review", "claim-done"]);
    expect(await row(p, "claim-done").locator(".fraction").textContent()).toBe("2/2");
    expect(await row(p, "claim-review").locator(".fraction").textContent()).toBe("1/2");
    expect(await row(p, "claim-done").textContent()).toContain("claims-triage");

    await p.selectOption("#status-filter", "paused");
    await expect.poll(() => p.locator("#runs-table tbody tr").count()).toBe(1);
    expect(await row(p, "claim-review").count()).toBe(1);
    await p.selectOption("#status-filter", "");
    await p.fill("#search", "done");
    await expect.poll(() => attrs(p.locator("#runs-table tbody tr"), "data-run")).toEqual(["claim-done"]);
    expect(dialogs).toEqual([]);
  });

  it("shows a run's timeline, a task's output and its journal calls", async () => {
    const p = await open(async () => {
      process.env.CREWSTATE_DEMO_DELAY_MS = "150"; // bars long enough to see, and to overlap
      await kickoff(parallelCrew(), { store: storeUrl, runId: "claim-1", inputs: { notes: NOTES } });
    }, "#/runs/claim-1");
    await expect.poll(() => p.locator("#timeline .row").count()).toBe(4);
    expect(await attrs(p.locator("#timeline .row"), "data-task")).toEqual(["analyze_task", "coverage_task", "history_task", "draft_task"]);
    expect(await attrs(p.locator("#timeline .row"), "data-outcome")).toEqual(["ran", "ran", "ran", "ran"]);
    expect(await timelineRow(p, "analyze_task").textContent()).toContain("run: new");
    // The two checks ran in parallel: their bars overlap on the shared axis.
    const coverage = (await timelineRow(p, "coverage_task").locator(".bar").boundingBox())!;
    const history = (await timelineRow(p, "history_task").locator(".bar").boundingBox())!;
    const analyze = (await timelineRow(p, "analyze_task").locator(".bar").boundingBox())!;
    expect(Math.max(coverage.x, history.x)).toBeLessThan(Math.min(coverage.x + coverage.width, history.x + history.width));
    expect(coverage.x).toBeGreaterThanOrEqual(analyze.x + analyze.width - 2);
    expect(await p.locator(".run-header").textContent()).toContain("claims-triage");
    expect(await p.locator(".totals").textContent()).toContain("Saved by resuming");
    expect(await p.locator("#events tbody tr").count()).toBeGreaterThan(8);

    await timelineRow(p, "analyze_task").click();
    await p.waitForURL(/#\/runs\/claim-1\/tasks\/analyze_task$/);
    const details = p.locator("#task-details");
    await expect.poll(() => details.getAttribute("data-task")).toBe("analyze_task");
    expect(await details.locator(".output .markdown").textContent()).toContain("demo model");
    expect(await details.locator(".output .markdown li").count()).toBeGreaterThan(1); // rendered as Markdown
    // The demo looks the policy up, then answers: a model call, the tool call, a model call.
    expect(await attrs(details.locator(".call"), "data-kind")).toEqual(["model", "tool", "model"]);
    expect(await details.locator('.call[data-kind="tool"]').textContent()).toContain("POL-4471");
    expect(await details.locator('.call[data-kind="model"]').first().textContent()).toContain("lookup_policy");
    expect(await details.locator('.call[data-kind="model"]').last().locator(".answer").textContent()).toContain("POL-4471");
    expect(await details.locator('.call[data-kind="model"] .messages .message').first().textContent()).toContain("Claims Researcher");

    if (process.env.CREWSTATE_UI_SCREENSHOT) {
      await p.setViewportSize({ width: 1280, height: 1000 });
      await p.waitForTimeout(100);
      await p.screenshot({ path: path.join(REPO_ROOT, "docs", "ui.png") });
    }
    expect(dialogs).toEqual([]);
  });

  it("approves a paused run from the page; the CLI sees it, and the run goes on", async () => {
    assertBuilt();
    const p = await open(async () => {
      await kickoff(claimsCrew({ review: true }), { store: storeUrl, runId: "claim-2", inputs: { notes: NOTES } });
    }, "#/runs/claim-2/tasks/analyze_task");
    await expect.poll(() => timelineRow(p, "analyze_task").getAttribute("data-outcome")).toBe("paused");
    const approve = p.locator('#task-details button[data-action="approve"]');
    await approve.click();
    const dialog = p.locator("#confirm");
    expect(await dialog.locator(".confirm-title").textContent()).toContain("analyze_task");
    await dialog.locator("button.ok").click();
    await expect.poll(() => p.locator("#task-details .notice").textContent()).toContain("task_approved");
    await expect.poll(() => p.locator('#events tr[data-type="task_approved"]').count()).toBe(1);

    const shown = await runCli(["show", "claim-2", "--store", storeUrl, "--json", "--events"]);
    expect(shown.code, shown.stderr).toBe(0);
    const json = JSON.parse(shown.stdout) as { status: string; events: { type: string; task: string | null }[] };
    expect(json.events.filter((e) => e.type === "task_approved").map((e) => e.task)).toEqual(["analyze_task"]);

    // Released: the next kickoff goes on past the review, and the open page follows it.
    const done = await kickoff(claimsCrew({ review: true }), { store: storeUrl, runId: "claim-2", inputs: { notes: NOTES } });
    expect(done.status).toBe("completed");
    await expect.poll(() => p.locator(".run-header .badge").first().textContent(), { timeout: 10_000 }).toBe("completed");
    await expect.poll(() => timelineRow(p, "draft_task").getAttribute("data-outcome")).toBe("ran");
    const after = await runCli(["show", "claim-2", "--store", storeUrl, "--json"]);
    expect((JSON.parse(after.stdout) as { status: string }).status).toBe("completed");
    expect(dialogs).toEqual([]);
  });

  it("updates a running run's page while its task finishes, without a reload", async () => {
    let running: Promise<unknown> = Promise.resolve();
    const p = await open(async () => {
      process.env.CREWSTATE_DEMO_DELAY_MS = "3000";
      running = kickoff(slowCrew(), { store: storeUrl, runId: "slow-1", inputs: { topic: "durable crews" } });
      const store = await openStore(storeUrl);
      try {
        await expect.poll(async () => (await store.getRun("slow-1"))?.tasks.some((t) => t.status === "running") ?? false, { timeout: 5_000, interval: 50 }).toBe(true);
      } finally {
        await store.close();
      }
    }, "#/runs/slow-1");
    let navigations = 0;
    p.on("framenavigated", () => navigations++);
    await p.evaluate(() => ((globalThis as unknown as { marker: number }).marker = 1));
    await expect.poll(() => timelineRow(p, "write_task").getAttribute("data-outcome")).toBe("running");
    expect(await p.locator(".run-header .badge").first().textContent()).toBe("running");

    await running;
    await expect.poll(() => timelineRow(p, "write_task").getAttribute("data-outcome"), { timeout: 10_000 }).toBe("ran");
    expect(await p.locator(".run-header .badge").first().textContent()).toBe("completed");
    expect(await p.locator('#events tr[data-type="run_completed"]').count()).toBe(1);
    expect(await p.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(1);
    expect(navigations).toBe(0);
  });

  it("shows an output holding <script> as text: nothing runs", async () => {
    const hostile = "# Findings\n\n<script>alert(1)</script>\n\n<img src=x onerror=\"alert(2)\"> [a link](javascript:alert(3))";
    const p = await open(async () => {
      await kickoff(claimsCrew(), { store: storeUrl, runId: "claim-3", inputs: { notes: NOTES } });
      const store = await openStore(storeUrl);
      try {
        await editTaskOutput(store, "claim-3", "analyze_task", hostile);
      } finally {
        await store.close();
      }
    }, "#/runs/claim-3/tasks/analyze_task");
    const output = p.locator("#task-details .output .markdown");
    await expect.poll(() => output.textContent()).toContain("<script>alert(1)</script>");
    expect(await output.textContent()).toContain('<img src=x onerror="alert(2)">');
    expect(await output.locator("h1").textContent()).toBe("Findings");
    expect(await output.locator("script, img, a[href^='javascript']").count()).toBe(0);
    // The editor holds the raw text, and the history shows the edit.
    expect(await p.locator('#events tr[data-type="task_edited"]').count()).toBe(1);
    await p.locator('#task-details button[data-action="edit"]').click();
    expect(await p.locator("#task-details textarea.editor-text").inputValue()).toBe(hostile);
    await p.waitForTimeout(300);
    expect(dialogs).toEqual([]);

    // Edit again from the page, then invalidate: each after its confirmation, each an event.
    await p.fill("#task-details textarea.editor-text", "- **Policy:** POL-4471\n- checked by a person");
    await p.click("#task-details button.save-edit");
    await p.click("#confirm button.ok");
    await expect.poll(() => p.locator('#events tr[data-type="task_edited"]').count()).toBe(2);
    await expect.poll(() => output.locator("strong").textContent()).toBe("Policy:");
    await p.click('#task-details button[data-action="invalidate"]');
    await p.click("#confirm button.cancel");
    await p.waitForTimeout(300);
    expect(await p.locator('#events tr[data-type="task_invalidated"]').count()).toBe(0);
    await p.click('#task-details button[data-action="invalidate"]');
    await p.click("#confirm button.ok");
    await expect.poll(() => p.locator('#events tr[data-type="task_invalidated"]').count()).toBe(1);
    await expect.poll(() => p.locator("#task-details .output").count()).toBe(0); // its result is gone
    // Still on the timeline, as stale: it reruns at the next kickoff.
    await expect.poll(() => timelineRow(p, "analyze_task").getAttribute("data-outcome")).toBe("stale");
  });

  it("without the token the page gets nothing", async () => {
    await open(async () => {
      await kickoff(slowCrew(), { store: storeUrl, runId: "quick-1", inputs: { topic: "tokens" } });
    });
    const stranger = await browser.newContext();
    try {
      const other = await stranger.newPage();
      const response = await other.goto(`${ui!.origin}/`);
      expect(response?.status()).toBe(401);
      const api = await other.goto(`${ui!.origin}/api/runs`);
      expect(api?.status()).toBe(401);
    } finally {
      await stranger.close();
    }
  });
});
