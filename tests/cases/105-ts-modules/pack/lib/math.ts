export function scale(x: number, k: number): number {
  return x * k;
}
