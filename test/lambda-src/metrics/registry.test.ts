import { inc, labels, observe, render, snapshot, sum } from '../../../lambda-src/metrics/registry';

it('renders counters, gauges and cumulative histograms with TYPE lines and escaped labels', () => {
  inc('t_requests_total', labels({ route: '/v1/x', model: 'a"b\\c' }));
  inc('t_requests_total', labels({ route: '/v1/x', model: 'a"b\\c' }), 2);
  observe('t_latency_seconds', labels({ route: '/v1/x' }), 0.02);
  observe('t_latency_seconds', labels({ route: '/v1/x' }), 7);
  const text = render([...snapshot(), ['t_buffered', 5]]);
  expect(text).toContain('# TYPE t_requests_total counter\nt_requests_total{route="/v1/x",model="a\\"b\\\\c"} 3\n');
  expect(text).toContain('# TYPE t_buffered gauge\nt_buffered 5\n');
  expect(text).toContain('# TYPE t_latency_seconds histogram\n');
  const bucket = (le: string) => Number(new RegExp(`t_latency_seconds_bucket\\{route="/v1/x",le="${le.replace(/[.+]/g, '\\$&')}"\\} (\\d+)`).exec(text)![1]);
  expect([bucket('0.01'), bucket('0.025'), bucket('5'), bucket('10'), bucket('+Inf')]).toEqual([0, 1, 1, 2, 2]);
  expect(text).toContain('t_latency_seconds_count{route="/v1/x"} 2\n');
  expect(text).toContain('t_latency_seconds_sum{route="/v1/x"} 7.02\n');
  // One TYPE line per family.
  expect(text.match(/# TYPE t_latency_seconds /g)).toHaveLength(1);
});

it('sums worker snapshots series by series', () => {
  expect(sum([[['a_total', 1], ['b', 2]], [['a_total', 3]], []])).toEqual([['a_total', 4], ['b', 2]]);
});
