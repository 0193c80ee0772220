// Preloaded into a measured process (node -r): reports its peak resident memory on exit.
'use strict';
process.on('exit', () => {
  process.stderr.write(`\nBENCH_MAX_RSS_KB=${process.resourceUsage().maxRSS}\n`);
});
