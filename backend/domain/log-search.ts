/** A search that cannot be run: a malformed or unsafe pattern, or one that ran too long. */
export class SearchError extends Error {
  override name = "SearchError";
}

export const MAX_PATTERN = 200;

/**
 * Refuses the shapes that make a backtracking engine take exponential time: a quantified group
 * that itself holds a quantifier (`(a+)+`, `(\w*\s?)*`), and backreferences. What remains is
 * matched against lines of at most 16 K characters, under a time budget as well.
 */
export function unsafePattern(source: string): string | null {
  if (/\\[1-9]|\\k</.test(source)) return "backreferences are not supported";
  // Each open group remembers whether a quantifier appeared inside it.
  const groups: boolean[] = [];
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const ch = source[i];
    if (ch === "\\") {
      i++;
      continue;
    }
    if (inClass) {
      if (ch === "]") inClass = false;
      continue;
    }
    if (ch === "[") inClass = true;
    else if (ch === "(") groups.push(false);
    else if (ch === ")") {
      const quantifiedInside = groups.pop() ?? false;
      const next = source[i + 1];
      const quantified = next === "*" || next === "+" || next === "?" || next === "{";
      if (quantifiedInside && quantified && next !== "?") return "a repeated group may not itself contain a repetition";
      if (quantified || quantifiedInside) {
        if (groups.length > 0) groups[groups.length - 1] = true;
      }
    } else if (ch === "*" || ch === "+" || ch === "{") {
      if (groups.length > 0) groups[groups.length - 1] = true;
    }
  }
  return null;
}

export interface Matcher {
  test(text: string): boolean;
  /** Starts a new time budget (the live tail, per batch of lines). */
  reset(): void;
}

/**
 * A case-insensitive substring or regular-expression test over log lines. A regex is checked for
 * the shapes that backtrack exponentially; a search that still takes longer than `budgetMs` in
 * total throws a SearchError rather than holding the server.
 */
export function createMatcher(query: string, options: { regex: boolean; budgetMs?: number }): Matcher {
  if (!options.regex) {
    const needle = query.toLowerCase();
    return { test: (text) => text.toLowerCase().includes(needle), reset() {} };
  }
  if (query.length > MAX_PATTERN) throw new SearchError(`a regular expression may be at most ${MAX_PATTERN} characters`);
  const unsafe = unsafePattern(query);
  if (unsafe) throw new SearchError(`this regular expression could take too long: ${unsafe}`);
  let pattern: RegExp;
  try {
    pattern = new RegExp(query, "i");
  } catch (error) {
    throw new SearchError(`not a valid regular expression: ${(error as Error).message.replace(/^Invalid regular expression: /, "")}`);
  }
  const budget = options.budgetMs ?? 2_000;
  let spent = 0;
  return {
    test(text) {
      const started = performance.now();
      const hit = pattern.test(text);
      spent += performance.now() - started;
      if (spent > budget) throw new SearchError(`the regular expression took longer than ${budget} ms; make it more specific`);
      return hit;
    },
    reset() {
      spent = 0;
    },
  };
}
