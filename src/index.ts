export { Agent, type AgentConfig } from "./model/agent.js";
export { Task, type TaskConfig } from "./model/task.js";
export { ConditionalTask, type ConditionalTaskConfig } from "./model/conditional-task.js";
export type { AgentStep, Guardrail, GuardrailResult, TaskOutput } from "./model/task-output.js";
export { Crew, isCrew, type CrewConfig, type Process } from "./model/crew.js";
export { Flow, isFlow, type FlowConfig, type Step, type StepContext, type StepFunction, type StepOptions, type Feedback, type WithFeedback } from "./flow/flow.js";
export { or, and, type Trigger, type TriggerGroup } from "./flow/triggers.js";
export { runFlow, type FlowResult, type FlowRunOptions, type StepResult } from "./flow/run-flow.js";
export { planFlow, type FlowPlan, type PlannedStep } from "./flow/plan-flow.js";
export { plotFlow } from "./flow/plot.js";
export { giveFeedback, invalidateStep, type FeedbackInput } from "./flow/operator.js";
export { fork, type ForkOptions, type ForkResult } from "./runs/fork.js";
export { diffRuns, type DiffSide, type RunDiff, type RunSide, type TaskDiff } from "./runs/diff.js";
export { diffStoredRuns } from "./runs/diff-stored.js";
export type { KickoffOptions, KickoffResult, TaskResult } from "./engine/kickoff.js";
export type {
  CallEndEvent,
  CallStartEvent,
  ProgressEvent,
  RunEndEvent,
  RunObserver,
  RunStartEvent,
  TaskOutcome,
  TaskEndEvent,
  TaskStartEvent,
  TokenEvent,
} from "./engine/observer.js";
export { tracingObserver, type TracingOptions } from "./telemetry/tracing.js";
export { openStore, storeUrlFrom, DEFAULT_STORE_URL, type OpenStoreOptions } from "./stores/open.js";
export { redactUrl, redactSecrets } from "./redact.js";
export { diagnoseStore, diagnoseRuns, type DoctorFinding, type DoctorReport } from "./engine/doctor.js";
export { MemoryStore } from "./stores/memory/store.js";
export { BaseStore } from "./stores/base-store.js";
export { Sealer, isSealed, type EncryptionKey, type EncryptionOptions } from "./stores/seal.js";
export { rekeyRuns } from "./stores/rekey.js";
export {
  SCHEMA_VERSION,
  type BeginRun,
  type CallRecord,
  type CommitOptions,
  type EventType,
  type Inputs,
  type JsonValue,
  type NewEvent,
  type Run,
  type RunKind,
  type RunParent,
  type RunDump,
  type RunEvent,
  type RunStatus,
  type RunSummary,
  type Store,
  type TaskRecord,
  type TaskStatus,
  type TokenUsage,
} from "./stores/store.js";
export { CrewstateError, FencedOutError, isCrewstateError, type ErrorCode, type ErrorContext } from "./errors.js";
export { resolveModel, type ResolvedModel } from "./llm/resolve-model.js";
export { createDemoModel, DEMO_LABEL } from "./llm/demo-model.js";
export { startWorker, enqueueRun, type WorkerOptions, type RunOutcome, type RunningWorker } from "./engine/worker.js";
export type { Budget } from "./engine/ledger.js";
export { DEFAULT_PRICES, costOf, type Price, type PriceTable } from "./llm/prices.js";
export type { Lease, ClaimOptions, TaskStart } from "./stores/store.js";
export type { FenceOptions, NextClaim, ReusedTask, ReuseOptions, RunEnd } from "./stores/store.js";
export { ok, noRun, fenced, exists, busy, type Ok, type NoRun, type Fenced, type Exists, type OtherCrew, type OtherKind, type Busy, type Refusal } from "./stores/outcomes.js";
export type { Freed } from "./stores/store.js";
export { pruneRuns, type PruneOptions, type PruneReport } from "./runs/prune.js";
export { planPrune, parseDuration, type PruneRules, type RetentionOptions } from "./runs/prune-plan.js";
