/**
 * What model calls cost, in US dollars per million tokens. Built in for common OpenAI models;
 * override or extend with the `prices` option (keys are model ids as crewstate names them,
 * e.g. `openai:gpt-4o-mini`). A model with no price has an unknown cost (null), never zero.
 */
export interface Price {
  inputPerMillion: number;
  outputPerMillion: number;
}

export type PriceTable = Readonly<Record<string, Price>>;

const openai = (inputPerMillion: number, outputPerMillion: number): Price => ({ inputPerMillion, outputPerMillion });

export const DEFAULT_PRICES: PriceTable = {
  demo: openai(0, 0),
  "openai:gpt-5": openai(1.25, 10),
  "openai:gpt-5-mini": openai(0.25, 2),
  "openai:gpt-5-nano": openai(0.05, 0.4),
  "openai:gpt-4.1": openai(2, 8),
  "openai:gpt-4.1-mini": openai(0.4, 1.6),
  "openai:gpt-4.1-nano": openai(0.1, 0.4),
  "openai:gpt-4o": openai(2.5, 10),
  "openai:gpt-4o-mini": openai(0.15, 0.6),
  "openai:o3": openai(2, 8),
  "openai:o4-mini": openai(1.1, 4.4),
  "openai:gpt-4-turbo": openai(10, 30),
  "openai:gpt-3.5-turbo": openai(0.5, 1.5),
};

/** The cost of a call, or null when the model has no price. Dated snapshots (`gpt-4o-2024-08-06`) use their family's price. */
export function costOf(modelId: string, inputTokens: number, outputTokens: number, prices: PriceTable = DEFAULT_PRICES): number | null {
  const price = prices[modelId] ?? prices[modelId.replace(/-\d{4}-\d{2}-\d{2}$/, "")];
  if (!price) return null;
  return (inputTokens * price.inputPerMillion + outputTokens * price.outputPerMillion) / 1_000_000;
}
