/**
 * A small ANSI SGR → HTML converter for build logs. It escapes HTML first-hand (the output is
 * safe for `{@html}`), maps the 16 basic colours to classes (so both themes can tune them) and
 * 256-colour / truecolour codes to inline styles, and drops every other escape sequence
 * (cursor moves, erase line, OSC titles and links) instead of printing garbage.
 */

interface Style {
  fg: string | null;
  bg: string | null;
  bold: boolean;
  dim: boolean;
  italic: boolean;
  underline: boolean;
  inverse: boolean;
}

const RESET: Style = { fg: null, bg: null, bold: false, dim: false, italic: false, underline: false, inverse: false };

// CSI (ESC [ … final byte), OSC (ESC ] … BEL or ESC \), and lone two-byte escapes.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching terminal escapes is the point
const ESCAPES = /\u001b\[([0-9;:?<=>]*)([ -/]*)([@-~])|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)|\u001b[@-Z\\-_]|\u009b[0-9;]*[@-~]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: other control characters are dropped
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/g;

const HTML: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML[c] ?? c);
}

/** Removes every escape sequence: the text as a person reads it (for search and download). */
export function stripAnsi(text: string): string {
  if (!text.includes("\u001b") && !text.includes("\u009b")) return text;
  return text.replace(ESCAPES, "").replace(CONTROL, "");
}

/** The xterm 256-colour palette entry n as a CSS colour. */
function xterm256(n: number): string | null {
  if (!Number.isInteger(n) || n < 0 || n > 255) return null;
  if (n < 16) return `c${n}`;
  if (n >= 232) {
    const level = 8 + (n - 232) * 10;
    return `rgb(${level},${level},${level})`;
  }
  const i = n - 16;
  const steps = [0, 95, 135, 175, 215, 255];
  return `rgb(${steps[Math.floor(i / 36)]},${steps[Math.floor(i / 6) % 6]},${steps[i % 6]})`;
}

function applySgr(style: Style, params: string): Style {
  const codes = params === "" ? [0] : params.split(/[;:]/).map((p) => (p === "" ? 0 : Number(p)));
  const next = { ...style };
  for (let i = 0; i < codes.length; i++) {
    const code = codes[i] ?? 0;
    if (code === 0) Object.assign(next, RESET);
    else if (code === 1) next.bold = true;
    else if (code === 2) next.dim = true;
    else if (code === 3) next.italic = true;
    else if (code === 4) next.underline = true;
    else if (code === 7) next.inverse = true;
    else if (code === 22) next.bold = next.dim = false;
    else if (code === 23) next.italic = false;
    else if (code === 24) next.underline = false;
    else if (code === 27) next.inverse = false;
    else if (code >= 30 && code <= 37) next.fg = `c${code - 30}`;
    else if (code >= 90 && code <= 97) next.fg = `c${code - 90 + 8}`;
    else if (code === 39) next.fg = null;
    else if (code >= 40 && code <= 47) next.bg = `c${code - 40}`;
    else if (code >= 100 && code <= 107) next.bg = `c${code - 100 + 8}`;
    else if (code === 49) next.bg = null;
    else if (code === 38 || code === 48) {
      const mode = codes[i + 1];
      let colour: string | null = null;
      if (mode === 5) {
        colour = xterm256(codes[i + 2] ?? -1);
        i += 2;
      } else if (mode === 2) {
        const [r, g, b] = [codes[i + 2], codes[i + 3], codes[i + 4]].map((v) => Math.max(0, Math.min(255, v ?? 0)));
        colour = `rgb(${r},${g},${b})`;
        i += 4;
      } else {
        break; // malformed: ignore the rest of this sequence
      }
      if (code === 38) next.fg = colour;
      else next.bg = colour;
    }
  }
  return next;
}

function isPlain(style: Style): boolean {
  return !style.fg && !style.bg && !style.bold && !style.dim && !style.italic && !style.underline && !style.inverse;
}

function open(style: Style): string {
  const classes: string[] = [];
  const css: string[] = [];
  let { fg, bg } = style;
  if (style.inverse) [fg, bg] = [bg ?? "inv-fg", fg ?? "inv-bg"];
  for (const [kind, value] of [
    ["fg", fg],
    ["bg", bg],
  ] as const) {
    if (!value) continue;
    if (value.startsWith("rgb(")) css.push(`${kind === "fg" ? "color" : "background-color"}:${value}`);
    else classes.push(`ansi-${kind}-${value}`);
  }
  if (style.bold) classes.push("ansi-bold");
  if (style.dim) classes.push("ansi-dim");
  if (style.italic) classes.push("ansi-italic");
  if (style.underline) classes.push("ansi-underline");
  return `<span${classes.length ? ` class="${classes.join(" ")}"` : ""}${css.length ? ` style="${css.join(";")}"` : ""}>`;
}

/** Escaped HTML with coloured spans. `highlight` (lower-case) wraps matches in <mark>. */
export function ansiToHtml(text: string, highlight = ""): string {
  const hasEscapes = text.includes("\u001b") || text.includes("\u009b");
  if (!hasEscapes) return mark(text.replace(CONTROL, ""), highlight);

  let out = "";
  let style = RESET;
  let last = 0;
  const flush = (chunk: string) => {
    const clean = chunk.replace(CONTROL, "");
    if (!clean) return;
    out += isPlain(style) ? mark(clean, highlight) : `${open(style)}${mark(clean, highlight)}</span>`;
  };
  ESCAPES.lastIndex = 0;
  for (let m = ESCAPES.exec(text); m; m = ESCAPES.exec(text)) {
    flush(text.slice(last, m.index));
    last = m.index + m[0].length;
    if (m[3] === "m" && m[2] === "" && m[1] !== undefined && !m[1].startsWith("?")) style = applySgr(style, m[1]);
  }
  flush(text.slice(last));
  return out;
}

/** Escapes `text`, wrapping case-insensitive matches of `needle` (already lower-case) in <mark>. */
function mark(text: string, needle: string): string {
  if (!needle) return escapeHtml(text);
  const lower = text.toLowerCase();
  let out = "";
  let from = 0;
  for (let at = lower.indexOf(needle); at !== -1; at = lower.indexOf(needle, from)) {
    out += `${escapeHtml(text.slice(from, at))}<mark>${escapeHtml(text.slice(at, at + needle.length))}</mark>`;
    from = at + needle.length;
  }
  return out + escapeHtml(text.slice(from));
}
