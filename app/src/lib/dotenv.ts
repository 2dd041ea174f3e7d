/**
 * Parses pasted `.env` text: `KEY=value`, `export KEY=value`, `# comments`, blank lines,
 * single-quoted (literal), double-quoted (with \n \t \" \\ escapes, may span lines) and
 * unquoted values (a trailing ` # comment` is dropped). Lines it cannot read are reported, not
 * silently lost.
 */

export interface ParsedVar {
  key: string;
  value: string;
}

export interface ParseResult {
  vars: ParsedVar[];
  /** "line 4: …" for each line that was not KEY=value. */
  problems: string[];
}

export const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function parseDotenv(text: string): ParseResult {
  const vars: ParsedVar[] = [];
  const problems: string[] = [];
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const raw = lines[i] ?? "";
    const trimmed = raw.trim();
    if (!trimmed || trimmed.startsWith("#")) continue;
    const match = /^(?:export\s+)?([^=\s]+)\s*=\s*(.*)$/.exec(trimmed);
    if (!match) {
      problems.push(`line ${lineNo}: expected KEY=value`);
      continue;
    }
    const key = match[1] ?? "";
    let rest = match[2] ?? "";
    let value: string;
    const quote = rest[0];
    if (quote === '"' || quote === "'" || quote === "`") {
      // The closing quote may be on a later line (multi-line values, e.g. a PEM key).
      let body = rest.slice(1);
      let end = findClosing(body, quote);
      while (end === -1 && i + 1 < lines.length) {
        i += 1;
        body += `\n${lines[i] ?? ""}`;
        end = findClosing(body, quote);
      }
      if (end === -1) {
        problems.push(`line ${lineNo}: ${key} has no closing ${quote}`);
        continue;
      }
      const inner = body.slice(0, end);
      value = quote === '"' ? inner.replace(/\\([nrt"\\$])/g, (_, c: string) => ({ n: "\n", r: "\r", t: "\t" })[c as "n"] ?? c) : inner;
    } else {
      const comment = rest.search(/\s#/);
      if (comment !== -1) rest = rest.slice(0, comment);
      value = rest.trim();
    }
    if (!ENV_KEY.test(key)) {
      problems.push(`line ${lineNo}: “${key}” is not a valid name (letters, digits and _, not starting with a digit)`);
      continue;
    }
    const existing = vars.findIndex((v) => v.key === key);
    if (existing !== -1) vars.splice(existing, 1); // the last one wins, as in a shell
    vars.push({ key, value });
  }
  return { vars, problems };
}

function findClosing(body: string, quote: string): number {
  for (let j = 0; j < body.length; j++) {
    const c = body[j];
    if (c === "\\" && quote === '"') {
      j += 1;
      continue;
    }
    if (c === quote) return j;
  }
  return -1;
}

/** A value as a `.env` line would need it (quoted when it has spaces, quotes, # or newlines). */
export function formatDotenvValue(value: string): string {
  if (value === "" || /^[A-Za-z0-9_./:@,+-]+$/.test(value)) return value;
  return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}
