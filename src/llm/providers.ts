import type { LanguageModelV3 } from "@ai-sdk/provider";
import { CrewstateError } from "../errors.js";

/**
 * The providers a model spec `<provider>:<model>` can name. `openai` is in the dependencies; the
 * others are optional peer dependencies, imported only when a spec names them.
 */
export interface Provider {
  /** The npm package that speaks its API. */
  package: string;
  /** Where requests go unless `baseVar` says otherwise. */
  defaultBaseUrl: string;
  baseVar: string;
  /** The API key's variable; undefined when the server takes none. */
  keyVar?: string;
  /** A key is optional once a base URL is set (a local OpenAI-compatible server). */
  keyOptionalWithBase?: boolean;
  create(module: Record<string, unknown>, settings: { baseURL?: string; apiKey?: string }, modelId: string): LanguageModelV3;
}

type Factory = (settings: { baseURL?: string; apiKey?: string }) => (modelId: string) => LanguageModelV3;
type ChatFactory = (settings: { baseURL?: string; apiKey?: string }) => { chat(modelId: string): LanguageModelV3 };

export const PROVIDERS: Record<string, Provider> = {
  openai: {
    package: "@ai-sdk/openai",
    defaultBaseUrl: "https://api.openai.com/v1",
    baseVar: "OPENAI_BASE_URL",
    keyVar: "OPENAI_API_KEY",
    keyOptionalWithBase: true,
    // Chat Completions, which every OpenAI-compatible server (Ollama, vLLM, llama.cpp) speaks.
    create: (module, settings, id) => (module.createOpenAI as ChatFactory)({ ...settings, apiKey: settings.apiKey ?? "not-needed" }).chat(id),
  },
  anthropic: {
    package: "@ai-sdk/anthropic",
    defaultBaseUrl: "https://api.anthropic.com/v1",
    baseVar: "ANTHROPIC_BASE_URL",
    keyVar: "ANTHROPIC_API_KEY",
    create: (module, settings, id) => (module.createAnthropic as Factory)(settings)(id),
  },
  google: {
    package: "@ai-sdk/google",
    defaultBaseUrl: "https://generativelanguage.googleapis.com/v1beta",
    baseVar: "GOOGLE_GENERATIVE_AI_BASE_URL",
    keyVar: "GOOGLE_GENERATIVE_AI_API_KEY",
    create: (module, settings, id) => (module.createGoogleGenerativeAI as Factory)(settings)(id),
  },
  ollama: {
    package: "ollama-ai-provider-v2",
    defaultBaseUrl: "http://127.0.0.1:11434/api",
    baseVar: "OLLAMA_BASE_URL",
    create: (module, settings, id) => (module.createOllama as Factory)({ baseURL: settings.baseURL })(id),
  },
};

/** The provider's package, or MISSING_PACKAGE naming the install to run. */
export async function importProvider(name: string, provider: Provider, spec: string): Promise<Record<string, unknown>> {
  try {
    return (await import(provider.package)) as Record<string, unknown>;
  } catch (error) {
    if ((error as { code?: unknown })?.code !== "ERR_MODULE_NOT_FOUND") throw error;
    throw new CrewstateError(
      "MISSING_PACKAGE",
      `model "${spec}" needs the package ${provider.package}, which is not installed; run \`npm install ${provider.package}\``,
      { model: spec, provider: name, package: provider.package },
      { cause: error },
    );
  }
}

/** The host a base URL points at, without any credentials in it. */
export function endpointOf(baseUrl: string): string {
  try {
    return new URL(baseUrl).host;
  } catch {
    return "(invalid URL)";
  }
}
