import { CrewstateError } from "../errors.js";
import type { JsonValue } from "../stores/store.js";
import type { Flow } from "./flow.js";

/**
 * Parses a state by the flow's schema (filling defaults); STATE_INVALID naming the first field at
 * fault and where the state came from (the inputs, a step's changes, a stored state) otherwise.
 */
export function parseState(flow: Flow, value: unknown, what: string): JsonValue {
  const parsed = flow.state.safeParse(value);
  if (parsed.success) return parsed.data as JsonValue;
  const issue = parsed.error.issues[0]!;
  const field = issue.path.length === 0 ? "the state" : `field ${JSON.stringify(issue.path.map(String).join("."))}`;
  throw new CrewstateError("STATE_INVALID", `${what} does not fit flow ${JSON.stringify(flow.name)}'s state schema: ${field}: ${issue.message}`, {
    field: issue.path.map(String).join("."),
  });
}
