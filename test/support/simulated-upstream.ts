// The simulator as an OpenAI-compatible server on a real loopback port, with failures a test can inject.
import type { AddressInfo } from 'node:net';
import { FetchLike, serveSimulator, simulator, SimulatorOptions } from '../../lambda-src/backends/simulator';
import { errorBody, httpError } from '../../lambda-src/http/errors';

/** An injected failure: an HTTP status, `hang` (no answer until the client gives up) or `break` (the body stops after two frames). */
export type Failure = number | 'hang' | 'break';

export interface SimulatedUpstream {
  url: string;
  /** Requests received (every path). */
  readonly requests: number;
  /** Body of the last generation request (parsed). */
  readonly lastBody: Record<string, any> | undefined;
  /** The next generation requests fail, in order (GET /v1/models never does). */
  setFailure(...failures: Failure[]): void;
  stop(): Promise<void>;
}

export async function startSimulatedUpstream(opts: Partial<SimulatorOptions> = {}): Promise<SimulatedUpstream> {
  const sim = simulator({ models: ['sim-llm'], ttftMs: 0, itlMs: 0, ...opts });
  const queue: Failure[] = [];
  let requests = 0;
  let lastBody: Record<string, any> | undefined;
  const handler: FetchLike = async (url, init) => {
    requests++;
    if (new URL(url).pathname == '/v1/models') return sim(url, init);
    lastBody = JSON.parse(init.body ?? '{}');
    const failure = queue.shift();
    if (failure == 'hang') await new Promise((_, reject) => init.signal?.addEventListener('abort', () => reject(init.signal!.reason)));
    if (typeof failure == 'number') {
      return new Response(JSON.stringify(errorBody(httpError(failure, `injected failure ${failure}`))), { status: failure, headers: { 'content-type': 'application/json', 'retry-after': '0' } });
    }
    const res = await sim(url, init);
    if (failure != 'break') return res;
    const reader = res.body!.getReader();
    let frames = 0;
    const broken = new ReadableStream({
      async pull(ctl) {
        const { value, done } = await reader.read();
        if (!done && ++frames <= 2) return ctl.enqueue(value);
        await new Promise((r) => setTimeout(r, 50)); // the frames before the break reach the client first
        ctl.error(new Error('injected break'));
      },
    });
    return new Response(broken, res);
  };
  const server = await serveSimulator(0, handler);
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get requests() {
      return requests;
    },
    get lastBody() {
      return lastBody;
    },
    setFailure: (...failures) => void queue.push(...failures),
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
