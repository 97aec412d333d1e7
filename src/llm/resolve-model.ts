import { createOpenAI } from "@ai-sdk/openai";
import type { LanguageModel } from "ai";
import { CrewstateError, quote } from "../errors.js";
import { createDemoModel } from "./demo-model.js";

export type LanguageModelObject = Exclude<LanguageModel, string>;

export interface ResolvedModel {
  model: LanguageModelObject;
  /** Stable id that enters the input hash, e.g. `openai:gpt-4o-mini` or `demo`. */
  id: string;
  isDemo: boolean;
}

const SUPPORTED = 'use "openai:<model>" (Chat Completions at OPENAI_BASE_URL) or "demo" (offline)';

/**
 * A model from an agent's `model`, else the crew's, else `CREWSTATE_MODEL`, else the demo model.
 * Fails before any call: an unknown spec or a missing API key is named in the error.
 */
export function resolveModel(
  spec: string | LanguageModel | undefined,
  env: NodeJS.ProcessEnv = process.env,
  options: { offline?: boolean } = {},
): ResolvedModel {
  const chosen = spec ?? (env.CREWSTATE_MODEL?.trim() || "demo");
  if (typeof chosen !== "string") {
    if (typeof chosen !== "object" || chosen === null || typeof (chosen as { doGenerate?: unknown }).doGenerate !== "function") {
      throw new CrewstateError("UNKNOWN_MODEL", `model is neither a spec string nor an AI SDK LanguageModel; ${SUPPORTED}`);
    }
    const model = chosen as LanguageModelObject & { provider: string; modelId: string };
    return { model, id: `${model.provider}:${model.modelId}`, isDemo: model.provider === "crewstate-demo" };
  }
  if (chosen === "demo") return { model: createDemoModel(), id: "demo", isDemo: true };
  const match = /^([a-z][a-z0-9-]*):(.+)$/i.exec(chosen.trim());
  if (match?.[1] === "openai" && options.offline) {
    return { model: offlineModel(chosen), id: `openai:${match[2]}`, isDemo: false };
  }
  if (match?.[1] === "openai") {
    const baseURL = env.OPENAI_BASE_URL?.trim() || undefined;
    const apiKey = env.OPENAI_API_KEY?.trim();
    if (!apiKey && !baseURL) {
      throw new CrewstateError(
        "MISSING_API_KEY",
        `model ${quote(chosen)} needs OPENAI_API_KEY (or OPENAI_BASE_URL for a local OpenAI-compatible server); set it, or use --model demo`,
        { model: chosen },
      );
    }
    const provider = createOpenAI({ baseURL, apiKey: apiKey || "not-needed" });
    return { model: provider.chat(match[2]!), id: `openai:${match[2]}`, isDemo: false };
  }
  throw new CrewstateError("UNKNOWN_MODEL", `unknown model ${quote(chosen)}; ${SUPPORTED}`, { model: chosen });
}

/** Stands in for a remote model during a replay, where every answer comes from a recording. */
function offlineModel(spec: string): LanguageModelObject {
  const refuse = async (): Promise<never> => {
    throw new CrewstateError("REPLAY_MISS", `model ${quote(spec)} was asked for an answer during an offline replay`, { model: spec });
  };
  return { specificationVersion: "v3", provider: "crewstate-offline", modelId: spec, supportedUrls: {}, doGenerate: refuse, doStream: refuse };
}
