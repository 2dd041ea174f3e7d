export const MASK = "••••";

/** Shorter values are left alone: masking "1" or "on" would blank out ordinary text everywhere. */
const MIN_SECRET = 3;
/**
 * A line of a multi-line secret is masked on its own when it is at least this long ("}" is not), and so
 * is the part of a longer base64 text that encodes a secret: short fragments would match anywhere.
 */
const MIN_PART = 8;

/**
 * The ways a value shows up in printed text: as it is, JSON-escaped (JSON.stringify), URL-encoded
 * (component, whole-URL and form encoding).
 */
function textForms(value: string): string[] {
  const percent = encodeURIComponent(value);
  const form = new URLSearchParams({ v: value }).toString().slice(2);
  return [value, JSON.stringify(value).slice(1, -1), percent, percent.replaceAll("%20", "+"), form, encodeURI(value)];
}

/**
 * The value's base64 (standard and URL-safe, padded or not) and, for each of the three byte offsets it
 * may start at inside a longer encoded text ("Basic " + base64("user:" + value)), the characters that
 * depend on the value alone.
 */
function base64Forms(value: string): string[] {
  const bytes = Buffer.from(value);
  const whole = bytes.toString("base64");
  const forms = [whole, whole.replace(/=+$/, ""), bytes.toString("base64url")];
  for (const offset of [0, 1, 2]) {
    const b64 = Buffer.concat([Buffer.alloc(offset), bytes]).toString("base64");
    const part = b64.slice(Math.ceil((offset * 8) / 6), Math.floor(((offset + bytes.length) * 8) / 6));
    if (part.length >= MIN_PART) forms.push(part);
  }
  return forms.flatMap((f) => [f, f.replaceAll("+", "-").replaceAll("/", "_")]);
}

/**
 * Replaces every occurrence of a secret value with ••••, in the forms a program prints it in: as it
 * is, JSON-escaped, URL-encoded and base64. Output is masked line by line, so each line of a
 * multi-line secret (a PEM key) is masked on its own too, if it is long enough to be worth it.
 */
export function createMasker(secrets: string[]): (text: string) => string {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (secret.length < MIN_SECRET) continue;
    for (const f of [...textForms(secret), ...base64Forms(secret)]) if (f.length >= MIN_SECRET) forms.add(f);
    if (!/[\r\n]/.test(secret)) continue;
    for (const line of secret.split(/\r?\n|\r/)) {
      for (const piece of new Set([line, line.trim()])) {
        if (piece.length < MIN_PART) continue;
        for (const f of textForms(piece)) forms.add(f);
      }
    }
  }
  const list = [...forms].sort((a, b) => b.length - a.length);
  if (list.length === 0) return (text) => text;
  const pattern = new RegExp(list.map((f) => f.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "g");
  return (text) => text.replace(pattern, MASK);
}
