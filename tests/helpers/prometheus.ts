/**
 * A strict reader of the text format 0.0.4 (the grammar of Prometheus's exposition_formats.md):
 * every line is a HELP, a TYPE or a sample; HELP and TYPE come once per family, before its
 * samples; a sample belongs to the family declared last (with _bucket/_sum/_count for histograms
 * and summaries); label values are quoted with only \\, \" and \n escaped; values are Go floats.
 * Throws on anything else, and returns the families with their samples.
 */
export function parseExposition(text: string) {
  if (!text.endsWith("\n")) throw new Error("the text must end with a line feed");
  const families = new Map<
    string,
    { type: string; help: string; samples: Array<{ name: string; labels: Record<string, string>; value: number }> }
  >();
  let current: string | null = null;
  const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
  const SAMPLE = new RegExp(`^(${NAME})(\\{(.*)\\})? (\\S+)$`);
  const VALUE = /^(NaN|[+-]Inf|[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)$/;
  text
    .slice(0, -1)
    .split("\n")
    .forEach((line, i) => {
      const where = `line ${i + 1} (${JSON.stringify(line)})`;
      const help = new RegExp(`^# HELP (${NAME}) (.*)$`).exec(line);
      const type = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line);
      if (help) {
        if (families.has(help[1] as string)) throw new Error(`${where}: a second HELP`);
        if (/\\[^\\n]/.test((help[2] as string).replace(/\\\\/g, ""))) throw new Error(`${where}: a bad escape in HELP`);
        families.set(help[1] as string, { type: "", help: help[2] as string, samples: [] });
        current = help[1] as string;
        return;
      }
      if (type) {
        const family = families.get(type[1] as string);
        if (!family || current !== type[1] || family.type || family.samples.length) throw new Error(`${where}: TYPE out of place`);
        family.type = type[2] as string;
        return;
      }
      if (line.startsWith("#")) throw new Error(`${where}: an unknown comment`);
      const m = SAMPLE.exec(line);
      if (!m) throw new Error(`${where}: not a sample`);
      const [, name, , labelText, value] = m as unknown as [string, string, string, string | undefined, string];
      if (!VALUE.test(value)) throw new Error(`${where}: "${value}" is not a value`);
      const family = current ? families.get(current) : null;
      if (!family || !current) throw new Error(`${where}: a sample before any TYPE`);
      const suffixes =
        family.type === "histogram" ? ["_bucket", "_sum", "_count"] : family.type === "summary" ? ["", "_sum", "_count"] : [""];
      if (!suffixes.some((s) => name === `${current}${s}`)) throw new Error(`${where}: ${name} is not of ${current}`);
      const labels: Record<string, string> = {};
      if (labelText !== undefined) {
        const pair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(,|$)/y;
        let at = 0;
        while (at < labelText.length) {
          pair.lastIndex = at;
          const p = pair.exec(labelText);
          if (!p) throw new Error(`${where}: bad labels at ${at}`);
          if ((p[1] as string) in labels) throw new Error(`${where}: label ${p[1]} twice`);
          labels[p[1] as string] = (p[2] as string).replace(/\\(\\|"|n)/g, (_, c: string) => (c === "n" ? "\n" : c));
          at = pair.lastIndex;
        }
      }
      family.samples.push({ name, labels, value: value === "+Inf" ? Infinity : value === "-Inf" ? -Infinity : Number(value) });
    });
  for (const [name, family] of families) {
    if (!family.type) throw new Error(`${name} has HELP but no TYPE`);
    if (family.type === "histogram") checkHistogram(name, family.samples);
  }
  return families;
}

/** Per label set: buckets ascending by le, counts never falling, +Inf last and equal to _count. */
function checkHistogram(name: string, samples: Array<{ name: string; labels: Record<string, string>; value: number }>) {
  const groups = new Map<string, typeof samples>();
  for (const s of samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(rest);
    groups.set(key, [...(groups.get(key) ?? []), s]);
  }
  for (const [key, list] of groups) {
    const buckets = list.filter((s) => s.name.endsWith("_bucket"));
    const count = list.find((s) => s.name.endsWith("_count"));
    if (!count || !list.some((s) => s.name.endsWith("_sum"))) throw new Error(`${name}${key}: no _sum or _count`);
    if (buckets.at(-1)?.labels.le !== "+Inf") throw new Error(`${name}${key}: +Inf is not the last bucket`);
    for (let i = 1; i < buckets.length; i++) {
      const [a, b] = [buckets[i - 1], buckets[i]] as [(typeof buckets)[number], (typeof buckets)[number]];
      if (Number(b.labels.le === "+Inf" ? Infinity : b.labels.le) <= Number(a.labels.le))
        throw new Error(`${name}${key}: le not ascending`);
      if (b.value < a.value) throw new Error(`${name}${key}: a bucket count falls`);
    }
    if (buckets.at(-1)?.value !== count.value) throw new Error(`${name}${key}: +Inf differs from _count`);
  }
}
