/**
 * `crewstate/testing`: the store conformance suite, for anyone writing a store. Needs vitest
 * (an optional peer dependency of crewstate); see docs/writing-a-store.md.
 */
export { describeStoreConformance, type ConformanceContext, type SpecName, type StoreConformanceOptions } from "./conformance.js";
