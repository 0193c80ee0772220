// Prometheus counters and histograms as one flat map of series → value, so the cluster primary can sum
// every worker's snapshot and any worker can render the total.
export type Snapshot = [string, number][];

const series = new Map<string, number>();
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, Infinity];
const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);

/** `k="v",...` with values escaped as the text format wants (\\, \", \n). */
export const labels = (o: Record<string, unknown>) => Object.entries(o).map(([k, v]) => `${k}=${JSON.stringify(String(v))}`).join();

export function inc(name: string, lbl = '', v = 1): void {
  add(series, lbl ? `${name}{${lbl}}` : name, v);
}

export function observe(name: string, lbl: string, seconds: number): void {
  for (const le of BUCKETS) inc(`${name}_bucket`, `${lbl}${lbl && ','}le="${le < Infinity ? le : '+Inf'}"`, +(seconds <= le));
  inc(`${name}_sum`, lbl, seconds);
  inc(`${name}_count`, lbl);
}

export const snapshot = (): Snapshot => [...series];

/** Sums snapshots (workers) into one. */
export function sum(snaps: Snapshot[]): Snapshot {
  const total = new Map<string, number>();
  for (const s of snaps) for (const [k, v] of s) add(total, k, v);
  return [...total];
}

/** Text exposition format; the TYPE comes from the name: _bucket/_sum/_count histogram, _total counter, else gauge. */
export function render(snap: Snapshot): string {
  let out = '';
  let family = '';
  // Sorted as "series,value" text, which is by series: ',' sorts below every character a series name holds.
  for (const [k, v] of snap.sort()) {
    const name = k.replace(/\{.*/, '');
    const base = name.replace(/_(bucket|sum|count)$/, '');
    if (base != family) out += `# TYPE ${(family = base)} ${base != name ? 'histogram' : /_total$/.test(name) ? 'counter' : 'gauge'}\n`;
    out += `${k} ${v}\n`;
  }
  return out;
}
