/**
 * The chaos run's one source of chance: a small seeded generator (mulberry32), so a seed replays the same
 * workload choices and the same fault schedule. Timing on a busy machine still varies between replays;
 * what the seed fixes is what is tried, and in which order.
 */

/** Seeded choices; every helper draws from the same stream, so the order of calls is part of the seed. */
export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** A whole number in [min, max], both included. */
  int(min: number, max: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T;
  /** A new list with the same elements in a seeded order (Fisher-Yates). */
  shuffle<T>(items: readonly T[]): T[];
  /** A new generator whose stream depends only on this one's seed and `label`: parts of the run stay independent. */
  fork(label: string): Random;
}

/** A 32-bit string hash (FNV-1a), to derive a fork's seed from its label. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A generator for `seed` (any 32-bit unsigned integer). */
export function createRandom(seed: number): Random {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (min: number, max: number): number => min + Math.floor(next() * (max - min + 1));
  return {
    next,
    int,
    chance: (p) => next() < p,
    pick<T>(items: readonly T[]): T {
      const item = items[int(0, items.length - 1)];
      if (item === undefined) throw new Error('pick needs a non-empty list');
      return item;
    },
    shuffle<T>(items: readonly T[]): T[] {
      const copy = [...items];
      for (let i = copy.length - 1; i > 0; i--) {
        const j = int(0, i);
        [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
      }
      return copy;
    },
    fork: (label) => createRandom((seed ^ hash(label)) >>> 0),
  };
}
