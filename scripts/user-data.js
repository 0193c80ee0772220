#!/usr/bin/env node
// Decodes a synthesized stack's launch-template user data the way EC2 and cloud-init do (base64 → gunzip →
// cloud-config YAML) and lists or extracts what it would install.
// Usage: node scripts/user-data.js cdktf.out/stacks/inference-dev/cdk.tf.json [--extract DIR]
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { gunzipSync } = require('node:zlib');

/** Every launch template's user data in a synthesized stack: `{ name, raw, document }`. */
function launchTemplateUserData(stackJson) {
  const templates = stackJson.resource?.aws_launch_template ?? {};
  return Object.entries(templates)
    .filter(([, t]) => typeof t.user_data === 'string')
    .map(([name, t]) => {
      if (t.user_data.includes('${')) throw new Error(`aws_launch_template.${name}: user_data is a Terraform expression, not synthesized bytes.`);
      const raw = Buffer.from(t.user_data, 'base64');
      // cloud-init recognises gzip by its magic bytes and decompresses before reading the document type.
      const document = (raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw).toString('utf8');
      return { name, raw, document };
    });
}

function parseCloudConfig(document) {
  if (!document.startsWith('#cloud-config\n')) throw new Error('user data is not a cloud-config document (first line must be #cloud-config).');
  const YAML = require('yaml');
  return YAML.parse(document);
}

/** A write_files entry's bytes as cloud-init writes them (b64 decoded). */
function fileBytes(file) {
  if (file.encoding === undefined) return Buffer.from(file.content, 'utf8');
  if (file.encoding === 'b64' || file.encoding === 'base64') return Buffer.from(file.content, 'base64');
  throw new Error(`${file.path}: unsupported write_files encoding '${file.encoding}'.`);
}

module.exports = { launchTemplateUserData, parseCloudConfig, fileBytes };

if (require.main === module) {
  const [file, flag, dir] = process.argv.slice(2);
  if (!file) {
    console.error('usage: node scripts/user-data.js <cdk.tf.json> [--extract DIR]');
    process.exit(2);
  }
  for (const { name, raw, document } of launchTemplateUserData(JSON.parse(fs.readFileSync(file, 'utf8')))) {
    const config = parseCloudConfig(document);
    console.log(`${name}: ${raw.length} bytes raw (limit 16384), ${document.length} bytes decoded`);
    for (const f of config.write_files ?? []) {
      const bytes = fileBytes(f);
      console.log(`  ${f.permissions} ${f.path} (${bytes.length} bytes${f.encoding ? `, ${f.encoding} in user data` : ''})`);
      if (flag === '--extract') {
        const target = path.join(dir, name, f.path);
        fs.mkdirSync(path.dirname(target), { recursive: true });
        fs.writeFileSync(target, bytes);
        // The boot script unpacks the brotli bundle next to it; do the same so the handler is readable.
        if (target.endsWith('.br')) fs.writeFileSync(target.slice(0, -3), require('node:zlib').brotliDecompressSync(bytes));
      }
    }
    for (const cmd of config.runcmd ?? []) console.log(`  runcmd: ${JSON.stringify(cmd)}`);
  }
}
