import { events, frame } from '../../../lambda-src/http/sse';

async function* chunks(...parts: string[]) {
  for (const p of parts) yield Buffer.from(p);
}
const collect = async (it: AsyncIterable<string>) => {
  const out: string[] = [];
  for await (const x of it) out.push(x);
  return out;
};

it('frames JSON and raw payloads', () => {
  expect(frame({ a: 1 })).toBe('data: {"a":1}\n\n');
  expect(frame('[DONE]')).toBe('data: [DONE]\n\n');
});

it('parses events split anywhere across chunks, with LF or CRLF, ignoring comments and other fields', async () => {
  const stream = chunks('data: {"a"', ':1}\n\n: keep-alive\n\nevent: x\r\ndata:{"b":2}\r\n\r\nda', 'ta: [DONE]\n\n', 'data: trailing-without-end');
  expect(await collect(events(stream))).toEqual(['{"a":1}', '{"b":2}', '[DONE]']);
});

it('keeps a multi-byte character split between chunks intact', async () => {
  const bytes = Buffer.from('data: é\n\n');
  async function* split() {
    yield bytes.subarray(0, 7);
    yield bytes.subarray(7);
  }
  expect(await collect(events(split()))).toEqual(['é']);
});
