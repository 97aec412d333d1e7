// A task's details (`#/runs/<id>/tasks/<task>`): its output, structured output, input hash and what
// changed, attempts, lease, and its journal of model and tool calls; plus the operator's actions.
import { api, badge, confirmAction, el, fill, fmtCost, fmtDuration, fmtNumber, jsonText, renderMarkdown, runLink, timeEl } from "./api.js";

/**
 * The details panel. `summary` is the task as the run lists it (outcome, reason, awaiting);
 * `detail` is `/api/runs/:id/tasks/:task`. `onAction(event)` is called after an action succeeded.
 */
export function renderTaskDetails(runId, summary, detail, onAction) {
  const task = detail.task;
  const outcome = summary?.outcome ?? task.status;
  const notice = el("div.notice", { hidden: true, role: "status" });
  const panel = el("aside.details#task-details", { dataset: { task: task.name } });

  const show = (kind, text) => {
    notice.hidden = false;
    notice.className = `notice ${kind}`;
    notice.textContent = text;
  };

  async function act(action, body, title, text, okLabel) {
    if (!(await confirmAction(title, text, okLabel))) return false;
    try {
      const answer = await api.action(runId, task.name, action, body);
      const event = answer?.event;
      show("ok", event ? `Done: ${event.type}${event.seq ? ` (event #${event.seq})` : ""}.` : "Done.");
      onAction(event);
      return true;
    } catch (error) {
      show("error", `${action} failed: ${error.message}`);
      return false;
    }
  }

  // The editor and the feedback form, opened by their buttons.
  const editor = el("textarea.editor-text", { "aria-label": "New output", rows: 12, spellcheck: false, value: task.output ?? "" });
  const editBox = el(
    "div.form-box.editor",
    { hidden: true },
    el("label", {}, "New output (Markdown)"),
    editor,
    el(
      "div.buttons",
      {},
      el("button", { type: "button", onclick: () => close(editBox) }, "Cancel"),
      el(
        "button.primary.save-edit",
        {
          type: "button",
          onclick: async () => {
            const ok = await act("edit", { output: editor.value }, `Replace the output of ${task.name}?`, "The edited text becomes the task's accepted output (and counts as reviewed). Tasks that read it will run again on the next kickoff.", "Save output");
            if (ok) close(editBox);
          },
        },
        "Save…",
      ),
    ),
  );

  const feedbackText = el("textarea.feedback-text", { "aria-label": "Feedback", rows: 4, placeholder: "Your answer (optional with approve / reject)" });
  const sendFeedback = (verdict) => async () => {
    const body = {};
    if (feedbackText.value.trim()) body.text = feedbackText.value;
    if (verdict) body.verdict = verdict;
    if (!body.text && !body.verdict) return show("error", "Write an answer, or approve or reject.");
    const label = verdict ? `${verdict === "approved" ? "Approve" : "Reject"} ${task.name}` : `Send feedback to ${task.name}`;
    if (await act("feedback", body, `${label}?`, body.text ? `With the text: “${body.text}”` : "Without text.", verdict === "rejected" ? "Reject" : verdict ? "Approve" : "Send")) close(feedbackBox);
  };
  const feedbackBox = el(
    "div.form-box.feedback",
    { hidden: true },
    summary?.awaiting && summary.awaiting !== "approval" ? el("p.question", {}, String(summary.awaiting)) : null,
    feedbackText,
    el(
      "div.buttons",
      {},
      el("button", { type: "button", onclick: () => close(feedbackBox) }, "Cancel"),
      el("button.send-feedback", { type: "button", onclick: sendFeedback(null) }, "Send text…"),
      el("button.danger.reject", { type: "button", onclick: sendFeedback("rejected") }, "Reject…"),
      el("button.primary.approve-feedback", { type: "button", onclick: sendFeedback("approved") }, "Approve…"),
    ),
  );

  function open(box, focus) {
    for (const other of [editBox, feedbackBox]) if (other !== box) close(other);
    box.hidden = false;
    panel.classList.add("form-open");
    focus?.focus();
  }
  function close(box) {
    box.hidden = true;
    if (editBox.hidden && feedbackBox.hidden) panel.classList.remove("form-open");
  }

  const awaiting = summary?.awaiting ?? null;
  const actions = el(
    "div.actions",
    {},
    awaiting === "approval"
      ? el("button.primary", { type: "button", dataset: { action: "approve" }, onclick: () => act("approve", {}, `Approve ${task.name}?`, "Its output is accepted as reviewed; the run goes on at its next kickoff (or right away, if a worker serves it).", "Approve") }, "Approve…")
      : null,
    awaiting && awaiting !== "approval"
      ? el("button.primary", { type: "button", dataset: { action: "feedback" }, onclick: () => open(feedbackBox, feedbackText) }, "Feedback…")
      : null,
    // A flow step's result is its step's to give: it is rerun (invalidate) or answered (feedback), not edited.
    summary?.kind === "step"
      ? null
      : el(
          "button",
          {
            type: "button",
            dataset: { action: "edit" },
            disabled: task.status !== "completed",
            title: task.status !== "completed" ? "Only a completed task's output can be edited" : "Replace the output",
            onclick: () => open(editBox, editor),
          },
          "Edit output…",
        ),
    el("button", { type: "button", dataset: { action: "invalidate" }, onclick: () => act("invalidate", {}, `Invalidate ${task.name}?`, "Its result is marked out of date: the next kickoff runs it again, and the tasks that depend on it.", "Invalidate") }, "Invalidate…"),
  );

  const usage = task.usage ?? {};
  const facts = el(
    "dl.facts",
    {},
    fact("Status", task.status),
    fact("Reason", summary?.reason ?? "—"),
    fact("Attempts", fmtNumber(task.attempts)),
    fact("Worker", task.worker ?? "—"),
    fact("Fencing token", task.fencingToken ?? "—"),
    task.leaseExpiresAt ? fact("Lease until", timeEl(task.leaseExpiresAt)) : null,
    fact("Model", task.model ?? "—"),
    fact("Started", timeEl(task.startedAt)),
    fact("Completed", timeEl(task.completedAt)),
    fact("Took", task.startedAt && task.completedAt ? fmtDuration(Date.parse(task.completedAt) - Date.parse(task.startedAt)) : "—"),
    fact("Tokens", `${fmtNumber(usage.inputTokens ?? 0)} in · ${fmtNumber(usage.outputTokens ?? 0)} out`),
    fact("Cost", fmtCost(usage.costUsd)),
    fact("Input hash", el("code.hash", { title: task.inputHash ?? "" }, short(task.inputHash))),
    fact("Output hash", el("code.hash", { title: task.outputHash ?? "" }, short(task.outputHash))),
  );

  const changed = detail.changed ?? [];
  const calls = detail.calls ?? [];
  fill(
    panel,
    el(
      "div.details-head",
      {},
      el("h2", {}, task.name),
      badge(outcome, "outcome"),
      el("a.close", { href: runLink(runId), title: "Close", "aria-label": "Close the details" }, "×"),
    ),
    actions,
    notice,
    editBox,
    feedbackBox,
    task.error ? el("div.error-box", {}, el("h3", {}, "Error"), el("pre", {}, typeof task.error === "string" ? task.error : jsonText(task.error))) : null,
    el("section.output", {}, el("h3", {}, "Output"), task.output ? renderMarkdown(task.output) : el("p.muted", {}, "No output yet.")),
    task.structured !== null && task.structured !== undefined
      ? el("section.structured", {}, el("h3", {}, "Structured output"), el("pre.json", {}, jsonText(task.structured)))
      : null,
    el(
      "section.changed",
      {},
      el("h3", {}, "What changed since the last run"),
      changed.length ? el("ul", {}, changed.map((c) => el("li", {}, c))) : el("p.muted", {}, "Nothing: same inputs as before (or a first run)."),
    ),
    el("section", {}, el("h3", {}, "Facts"), facts),
    el(
      "section.journal",
      {},
      el("h3", {}, `Journal · ${calls.length} call${calls.length === 1 ? "" : "s"}`),
      calls.length ? el("ol.calls", {}, calls.map(renderCall)) : el("p.muted", {}, "No calls journaled."),
    ),
  );
  return panel;
}

function fact(label, value) {
  return [el("dt", {}, label), el("dd", {}, value ?? "—")];
}

function short(hash) {
  if (!hash) return "—";
  const bare = String(hash).replace(/^sha256:/, "");
  return bare.length > 16 ? `${bare.slice(0, 16)}…` : bare;
}

function renderCall(call) {
  const head = el(
    "summary.call-head",
    {},
    el("span.pos", {}, `#${call.position}`),
    el(`span.kind.kind-${call.kind}`, {}, call.kind),
    el("span.call-name", {}, call.name ?? ""),
    call.kind === "model" && call.usage ? el("span.meta", {}, `${fmtNumber(call.usage.inputTokens ?? 0)} → ${fmtNumber(call.usage.outputTokens ?? 0)} tokens`) : null,
    call.kind === "model" && call.usage ? el("span.meta", {}, fmtCost(call.usage.costUsd)) : null,
    typeof call.durationMs === "number" ? el("span.meta", {}, fmtDuration(call.durationMs)) : null,
    call.replayed ? el("span.replayed", { title: "Answered from the journal, not by the model or tool" }, "replayed") : el("span.live-call", { title: "Called for real when the task ran" }, "called"),
  );
  const body = el("div.call-body");
  if (call.kind === "model") {
    const messages = call.messages;
    body.append(
      Array.isArray(messages)
        ? el(
            "details.messages",
            {},
            el("summary", {}, `Prompt · ${messages.length} message${messages.length === 1 ? "" : "s"}`),
            el("ol", {}, messages.map((m) => el("li.message", {}, el(`span.role.role-${m.role}`, {}, m.role), el("pre", {}, messageText(m.content))))),
          )
        : el("p.muted", {}, "Prompt not kept (journaled before messages were recorded)."),
    );
    if (call.answer) body.append(el("div.answer", {}, el("span.label", {}, "Answer"), el("pre", {}, typeof call.answer === "string" ? call.answer : jsonText(call.answer))));
    if (Array.isArray(call.toolCalls) && call.toolCalls.length) {
      body.append(
        el(
          "div.tool-calls",
          {},
          el("span.label", {}, "Tool calls"),
          el("ul", {}, call.toolCalls.map((t) => el("li", {}, el("code", {}, t.name), el("pre", {}, jsonText(t.args ?? t.input ?? null))))),
        ),
      );
    }
  } else {
    body.append(el("div.args", {}, el("span.label", {}, "Arguments"), el("pre", {}, jsonText(call.args ?? null))), el("div.result", {}, el("span.label", {}, "Result"), el("pre", {}, jsonText(call.result ?? null))));
  }
  return el("li.call", { dataset: { position: call.position, kind: call.kind } }, el("details", { open: true }, head, body));
}

/** A prompt message's content as text: strings as they are, parts joined (non-text parts as JSON). */
function messageText(content) {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return jsonText(content);
  return content
    .map((part) => {
      if (part && part.type === "text") return part.text;
      if (part && part.type === "tool-call") return `→ ${part.toolName}(${JSON.stringify(part.input ?? part.args ?? null)})`;
      if (part && part.type === "tool-result") return `← ${part.toolName}: ${JSON.stringify(part.output ?? part.result ?? null)}`;
      return JSON.stringify(part);
    })
    .join("\n");
}
