import { describe, expect, it } from "vitest";
import { EventStreamParser, readEventStream, type ServerEvent } from "./sse";

function parse(chunks: string[]): ServerEvent[] {
  const events: ServerEvent[] = [];
  const parser = new EventStreamParser((e) => events.push(e));
  chunks.forEach((c) => parser.push(c));
  parser.end();
  return events;
}

describe("EventStreamParser", () => {
  it("reads named events with JSON data and skips ping comments", () => {
    const text = 'event: status\ndata: {"status":"running"}\n\n: ping\n\nevent: masks\ndata: {"frame_index":3}\n\n';
    expect(parse([text])).toEqual([
      { event: "status", data: '{"status":"running"}' },
      { event: "masks", data: '{"frame_index":3}' },
    ]);
  });

  it("joins an event split across chunks at any byte, CRLF included", () => {
    const text = "event: progress\r\ndata: {\"done\": 1,\r\ndata: \"total\": 2}\r\n\r\n";
    for (let cut = 1; cut < text.length; cut += 1) {
      expect(parse([text.slice(0, cut), text.slice(cut)])).toEqual([
        { event: "progress", data: '{"done": 1,\n"total": 2}' },
      ]);
    }
  });

  it("calls an unnamed event a message and drops an event cut off by the end of the stream", () => {
    expect(parse(["data: hello\n\nevent: status\ndata: {}"])).toEqual([{ event: "message", data: "hello" }]);
  });
});

describe("readEventStream", () => {
  it("decodes UTF-8 split inside a character", async () => {
    const bytes = new TextEncoder().encode("event: status\ndata: \"café ✓\"\n\n");
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const byte of bytes) controller.enqueue(new Uint8Array([byte]));
        controller.close();
      },
    });
    const events: ServerEvent[] = [];
    for await (const event of readEventStream(body)) events.push(event);
    expect(events).toEqual([{ event: "status", data: '"café ✓"' }]);
  });
});
