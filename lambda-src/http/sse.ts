// Server-sent events: `data: <json>\n\n` frames, as OpenAI streams them.
export const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' };

export const frame = (data: unknown) => `data: ${typeof data == 'string' ? data : JSON.stringify(data)}\n\n`;

/**
 * The `data:` payloads of an SSE byte stream, one per line (OpenAI-compatible servers send one-line JSON
 * events); other fields and comments are skipped, LF or CRLF line ends.
 */
export async function* events(body: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const dec = new TextDecoder();
  let buf = '';
  for await (const chunk of body) {
    const lines = (buf += dec.decode(chunk, { stream: true })).split('\n');
    buf = lines.pop()!;
    for (const l of lines) if (l.startsWith('data:')) yield l.slice(5).trim();
  }
}
