/** Longest line kept while waiting for its end; a longer one is dropped (a runaway writer). */
export const MAX_LINE_CHARS = 1_000_000;

/**
 * Splits a stream of text chunks into lines.
 *
 * Chunks may end anywhere, including between `\r` and `\n`; `\n` and `\r\n` both end a
 * line; blank lines are skipped. `Uint8Array` chunks are decoded as UTF-8 across chunk
 * boundaries.
 */
export class LineSplitter {
  private buffer = "";
  private overflowing = false;
  private readonly decoder = new TextDecoder("utf-8");

  constructor(private readonly onOverflow: (droppedChars: number) => void = () => undefined) {}

  /** Feeds one chunk; returns the lines it completed, without their terminators. */
  push(chunk: string | Uint8Array | readonly number[]): string[] {
    const text =
      typeof chunk === "string"
        ? chunk
        : this.decoder.decode(chunk instanceof Uint8Array ? chunk : Uint8Array.from(chunk), {
            stream: true,
          });
    const lines: string[] = [];
    let start = 0;
    for (;;) {
      const newline = text.indexOf("\n", start);
      if (newline === -1) break;
      this.append(text.slice(start, newline));
      const line = this.take();
      if (line !== null) lines.push(line);
      start = newline + 1;
    }
    this.append(text.slice(start));
    return lines;
  }

  /** Ends the stream: returns the last unterminated line, if any. */
  end(): string[] {
    this.append(this.decoder.decode());
    const line = this.take();
    return line === null ? [] : [line];
  }

  private append(part: string): void {
    if (this.overflowing) return;
    if (this.buffer.length + part.length > MAX_LINE_CHARS) {
      this.onOverflow(this.buffer.length + part.length);
      this.buffer = "";
      this.overflowing = true;
      return;
    }
    this.buffer += part;
  }

  private take(): string | null {
    const wasOverflowing = this.overflowing;
    let line = this.buffer;
    this.buffer = "";
    this.overflowing = false;
    if (wasOverflowing) return null;
    if (line.endsWith("\r")) line = line.slice(0, -1);
    return line.trim() === "" ? null : line;
  }
}
