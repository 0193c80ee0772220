// Entry point. The primary forks WORKERS workers (restarting crashed ones with backoff), sums their metrics
// and forwards SIGTERM; each worker serves HTTP and, on SIGTERM, drains and exits 0.
import { startApp } from './app';
import { Config, loadConfig } from './config';
import { Snapshot, sum } from './metrics/registry';
import { cluster } from './util';

const fatal = (what: string, e: any, code: number) => {
  console.error(`${what}: ${e?.message ?? e}`);
  process.exit(code);
};

let cfg: Config;
try {
  cfg = loadConfig();
} catch (e) {
  fatal('configuration error', e, 78); // EX_CONFIG: restarting cannot help
}

if (cluster.isPrimary) {
  const snaps = new Map<number, Snapshot>();
  let live = 0, crashes = 0, stopping = false;
  const fork = () => stopping || (live++, cluster.fork());
  for (let i = 0; i < cfg!.WORKERS; i++) fork();
  cluster.on('message', (w, m) => {
    if (m.metrics) w.send({ metrics: sum([...snaps.set(w.id, m.metrics).values()]) });
  });
  cluster.on('exit', (w, code, signal) => {
    live--;
    // A dead worker's counters stay in the total (monotonic for Prometheus); its gauges go.
    snaps.set(0, sum([snaps.get(0) ?? [], (snaps.get(w.id) ?? []).filter(([k]) => /_(total|bucket|sum|count)\b/.test(k))]));
    snaps.delete(w.id);
    if (stopping) {
      if (!live) process.exit(0);
      return;
    }
    // Back off while workers keep dying (e.g. a dependency missing at start): each crash counts for a minute.
    const delay = Math.min(3e4, 100 * 2 ** crashes++);
    setTimeout(() => crashes--, 6e4).unref();
    console.error(`worker ${w.process.pid} exited (${signal ?? code}); restarting in ${delay} ms`);
    setTimeout(fork, delay);
  });
  const stop = () => {
    stopping = true;
    for (const w of Object.values(cluster.workers!)) w!.process.kill('SIGTERM');
    if (!live) process.exit(0);
  };
  process.on('SIGTERM', stop).on('SIGINT', stop);
} else {
  // Ctrl-C reaches the whole process group: the primary turns it into one orderly SIGTERM.
  process.on('SIGINT', () => 0);
  startApp(cfg!).then((app) => {
    process.once('SIGTERM', async () => {
      setTimeout(() => process.exit(1), cfg.SHUTDOWN_TIMEOUT_MS + 5000).unref();
      await app.close(cfg.SHUTDOWN_TIMEOUT_MS);
      process.exit(0);
    });
  }, (e) => fatal('startup failed', e, 1));
}
