export const MASK = "••••";

/**
 * Replaces every occurrence of a secret value (and of its base64 and URL-encoded forms) with ••••.
 * Values shorter than 3 characters are left alone: masking "1" or "on" would blank out ordinary
 * text everywhere and tell a reader which short values are secret.
 */
export function createMasker(secrets: string[]): (text: string) => string {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (secret.length < 3) continue;
    forms.add(secret);
    forms.add(Buffer.from(secret).toString("base64").replace(/=+$/, ""));
    forms.add(encodeURIComponent(secret));
  }
  const list = [...forms].filter((f) => f.length >= 3).sort((a, b) => b.length - a.length);
  if (list.length === 0) return (text) => text;
  const pattern = new RegExp(list.map((f) => f.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "g");
  return (text) => text.replace(pattern, MASK);
}
