/** A text/event-stream parser over a byte stream (the parts of the SSE spec the API uses:
 * `event:`, multi-line `data:`, comments, and any of CRLF, LF or CR as line ends). */

export interface ServerEvent {
  event: string;
  data: string;
}

/** Feeds text in arbitrary chunks; calls `emit` for each complete event. */
export class EventStreamParser {
  private buffer = "";
  private event = "";
  private data: string[] = [];

  constructor(private readonly emit: (event: ServerEvent) => void) {}

  push(chunk: string): void {
    this.buffer += chunk;
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      // A lone CR at the end may be the first half of CRLF: wait for the next chunk.
      if (!match || (match[0] === "\r" && match.index === this.buffer.length - 1)) return;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      this.line(line);
    }
  }

  /** End of stream: an event without its blank line is dropped, as the spec says. */
  end(): void {
    if (this.buffer) this.line(this.buffer);
    this.buffer = "";
  }

  private line(line: string): void {
    if (line === "") {
      if (this.data.length) this.emit({ event: this.event || "message", data: this.data.join("\n") });
      this.event = "";
      this.data = [];
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.event = value;
    else if (field === "data") this.data.push(value);
  }
}

/** Events from a fetch body, in order, until the server closes the stream. */
export async function* readEventStream(body: ReadableStream<Uint8Array>): AsyncGenerator<ServerEvent> {
  const queue: ServerEvent[] = [];
  const parser = new EventStreamParser((event) => queue.push(event));
  const decoder = new TextDecoder();
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        parser.push(decoder.decode());
        parser.end();
      } else {
        parser.push(decoder.decode(value, { stream: true }));
      }
      while (queue.length) yield queue.shift()!;
      if (done) return;
    }
  } finally {
    reader.releaseLock();
  }
}
