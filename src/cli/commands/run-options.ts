/** The options of `crewstate run`, for crews and flows alike. */
export interface RunOptions {
  runId?: string;
  input?: string[];
  inputs?: string;
  store?: string;
  model?: string;
  json?: boolean;
  replayFrom?: string;
  maxTokens?: string;
  maxCost?: string;
  verbose?: boolean;
  quiet?: boolean;
  stream?: boolean;
}
