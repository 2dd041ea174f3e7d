/**
 * Splits a byte stream's text into lines the way a terminal would finally show them: a carriage
 * return without a newline rewrites the current line (progress bars), so only the text after the
 * last `\r` of a line is kept. Very long lines are cut so one runaway line cannot eat memory.
 */
export class LineSplitter {
  private buffer = "";

  constructor(private readonly maxLine = 16 * 1024) {}

  push(text: string): string[] {
    this.buffer += text;
    const lines: string[] = [];
    let start = 0;
    for (let nl = this.buffer.indexOf("\n", start); nl >= 0; nl = this.buffer.indexOf("\n", start)) {
      lines.push(this.finish(this.buffer.slice(start, nl)));
      start = nl + 1;
    }
    this.buffer = this.buffer.slice(start);
    if (this.buffer.length > this.maxLine * 4) {
      // No newline in sight: keep only what a terminal would show of the current line.
      this.buffer = lastSegment(this.buffer).slice(-this.maxLine);
    }
    return lines;
  }

  end(): string[] {
    const rest = this.buffer;
    this.buffer = "";
    return rest.length > 0 ? [this.finish(rest)] : [];
  }

  private finish(raw: string): string {
    const line = lastSegment(raw.endsWith("\r") ? raw.slice(0, -1) : raw);
    return line.length > this.maxLine ? `${line.slice(0, this.maxLine)}… [line cut at ${this.maxLine} characters]` : line;
  }
}

function lastSegment(line: string): string {
  const cr = line.lastIndexOf("\r");
  return cr >= 0 ? line.slice(cr + 1) : line;
}
