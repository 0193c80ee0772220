// Plays the parts of cloud-init and the boot script that a test can run without a VM: write_files into a
// scratch root, and the boot steps that unpack and verify the handler bundle, with paths moved into that root.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { HANDLER_PATHS } from '../../constructs/handler-user-data';

const { fileBytes } = require('../../scripts/user-data.js');

export interface CloudFile {
  path: string;
  permissions: string;
  owner?: string;
  encoding?: string;
  content: string;
}

/** Writes every write_files entry under `root`, decoded and with its mode, as cloud-init would. */
export function writeFiles(root: string, files: CloudFile[]): void {
  for (const file of files) {
    const target = join(root, file.path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, fileBytes(file));
    chmodSync(target, parseInt(file.permissions, 8));
  }
}

/** Runs the boot script's bundle steps (unpack, checksum, mode) inside `root`, with this machine's node as the AMI's. */
export function unpackBundle(root: string, bootScript: string): string {
  symlinkSync(process.execPath, join(root, HANDLER_PATHS.node));
  const steps = bootScript
    .split('\n')
    .filter((line) => /brotliDecompressSync|^rm -f|sha256sum -c|^chmod 0644/.test(line))
    .map((line) => line.split(HANDLER_PATHS.dir).join(join(root, HANDLER_PATHS.dir)))
    .join('\n');
  execFileSync('bash', ['-euo', 'pipefail', '-c', steps], { stdio: 'pipe' });
  return join(root, HANDLER_PATHS.bundle);
}
