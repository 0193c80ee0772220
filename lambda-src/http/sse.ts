// Server-sent events: `data: <json>\n\n` frames, as OpenAI streams them.
export const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' };

export const frame = (data: unknown) => `data: ${typeof data == 'string' ? data : JSON.stringify(data)}\n\n`;

/** The `data` payloads of an SSE byte stream, one per event (multi-line data joined with \n). */
export async function* events(body: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const dec = new TextDecoder();
  let buf = '';
  for await (const chunk of body) {
    const parts = (buf += dec.decode(chunk, { stream: true })).split(/\r?\n\r?\n/);
    buf = parts.pop()!;
    for (const ev of parts) {
      const data = ev.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart());
      if (data.length) yield data.join('\n');
    }
  }
}
