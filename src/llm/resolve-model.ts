import type { LanguageModel } from "ai";
import { CrewstateError, quote } from "../errors.js";
import { createDemoModel } from "./demo-model.js";
import { endpointOf, importProvider, PROVIDERS } from "./providers.js";

export type LanguageModelObject = Exclude<LanguageModel, string>;

export interface ResolvedModel {
  model: LanguageModelObject;
  /** Stable id that enters the input hash, e.g. `openai:gpt-4o-mini` or `demo`. */
  id: string;
  isDemo: boolean;
  /** The host requests go to (never its credentials); null for a model object or the demo. */
  endpoint: string | null;
}

const SUPPORTED =
  'use "openai:<model>" (Chat Completions at OPENAI_BASE_URL), "anthropic:<model>", "google:<model>", "ollama:<model>" or "demo" (offline)';

/**
 * A model from an agent's `model`, else the crew's, else `CREWSTATE_MODEL`, else the demo model.
 * Fails before any call: an unknown spec, a missing API key or provider package is named in the
 * error. `offline` (plan, cassette replay) resolves a spec without credentials or packages, to a
 * model that refuses to be called.
 */
export async function resolveModel(
  spec: string | LanguageModel | undefined,
  env: NodeJS.ProcessEnv = process.env,
  options: { offline?: boolean } = {},
): Promise<ResolvedModel> {
  const chosen = spec ?? (env.CREWSTATE_MODEL?.trim() || "demo");
  if (typeof chosen !== "string") {
    if (typeof chosen !== "object" || chosen === null || typeof (chosen as { doGenerate?: unknown }).doGenerate !== "function") {
      throw new CrewstateError("UNKNOWN_MODEL", `model is neither a spec string nor an AI SDK LanguageModel; ${SUPPORTED}`);
    }
    const model = chosen as LanguageModelObject & { provider: string; modelId: string };
    return { model, id: `${model.provider}:${model.modelId}`, isDemo: model.provider === "crewstate-demo", endpoint: null };
  }
  if (chosen === "demo") return { model: createDemoModel(), id: "demo", isDemo: true, endpoint: null };
  const match = /^([a-z][a-z0-9-]*):(.+)$/i.exec(chosen.trim());
  const name = match?.[1]?.toLowerCase();
  const provider = name !== undefined && Object.hasOwn(PROVIDERS, name) ? PROVIDERS[name]! : undefined;
  if (!match || !provider) throw new CrewstateError("UNKNOWN_MODEL", `unknown model ${quote(chosen)}; ${SUPPORTED}`, { model: chosen });
  const id = `${name}:${match[2]}`;
  const baseURL = env[provider.baseVar]?.trim() || undefined;
  const endpoint = endpointOf(baseURL ?? provider.defaultBaseUrl);
  if (options.offline) return { model: offlineModel(chosen), id, isDemo: false, endpoint };
  const apiKey = provider.keyVar ? env[provider.keyVar]?.trim() || undefined : undefined;
  if (provider.keyVar && !apiKey && !(provider.keyOptionalWithBase && baseURL)) {
    const orBase = provider.keyOptionalWithBase ? ` (or ${provider.baseVar} for a local OpenAI-compatible server)` : "";
    throw new CrewstateError("MISSING_API_KEY", `model ${quote(chosen)} needs ${provider.keyVar}${orBase}; set it, or use --model demo`, { model: chosen });
  }
  const module = await importProvider(name!, provider, chosen);
  return { model: provider.create(module, { baseURL, apiKey }, match[2]!), id, isDemo: false, endpoint };
}

/** Stands in for a remote model during a plan or a replay, where nothing may be called. */
function offlineModel(spec: string): LanguageModelObject {
  const refuse = async (): Promise<never> => {
    throw new CrewstateError("REPLAY_MISS", `model ${quote(spec)} was asked for an answer during an offline replay`, { model: spec });
  };
  return { specificationVersion: "v3", provider: "crewstate-offline", modelId: spec, supportedUrls: {}, doGenerate: refuse, doStream: refuse };
}
