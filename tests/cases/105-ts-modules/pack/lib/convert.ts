// Value conversion both ways: what the policy passes and what comes back.
import { scale } from "./math";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export function describe(v: unknown): string {
  if (v === undefined) return "undefined";
  if (v === null) return "null";
  if (Array.isArray(v)) return "array:" + v.length;
  return typeof v;
}

export function echo<T>(v: T): T {
  return v;
}

export function shaped(): Json {
  return { b: [1, "two", true, null], a: { nested: { deep: 1.5 } } };
}

export function lossy(): unknown {
  return { keep: 1, drop: undefined, fn: () => 1, list: [undefined, () => 2], when: new Date(0) };
}

export function scaled(xs: number[], k: number): number[] {
  return xs.map((x) => scale(x, k));
}

export const LIMIT: number = 42;

export function region(): string {
  return (globalThis as any).env.SENTRIE_TEST_REGION ?? "unset";
}

export function fail(msg: string): never {
  throw new Error(msg);
}

export function notSerialisable(): unknown {
  return () => 1;
}
