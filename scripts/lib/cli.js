'use strict';
// Plumbing shared by scripts/fleet.js and scripts/diagram.js: options, the synthesized output and its
// manifest, timed progress lines, executables on PATH and Markdown job summaries.
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');

/** A problem the user can fix: printed without a stack trace. Exit code 2 means bad usage. */
class CliError extends Error {
  constructor(message, exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** `util.parseArgs` with its errors turned into usage errors that point at `--help`. */
function parseOptions(args, options, command) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new CliError(`${error.message}\nRun \`${command} --help\` for the options.`, 2);
  }
}

/** cdktf.json of the project in `root`, or `{}` when `required` is false and there is none. */
function readCdktfConfig(root, required) {
  const file = path.join(root, 'cdktf.json');
  if (!fs.existsSync(file)) {
    if (!required) return {};
    throw new CliError(`No cdktf.json in ${root}: run from the project root (npm run sets it), where cdktf.json names the app command.`, 2);
  }
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new CliError(`${file} is not valid JSON (${error.message}).`, 2);
  }
}

/** The synthesized output directory: --outdir, then $CDKTF_OUTDIR, then cdktf.json "output", then cdktf.out. */
function resolveOutdir(root, config, flag, env = process.env) {
  return path.resolve(root, flag || env.CDKTF_OUTDIR || config.output || 'cdktf.out');
}

/** Stacks of the last synth, in dependency order: `{ name, dir, file }` with absolute paths. */
function readManifest(outdir) {
  const file = path.join(outdir, 'manifest.json');
  if (!fs.existsSync(file)) {
    throw new CliError(`No synthesized output: ${file} does not exist. Run \`npm run fleet -- synth\` first, or pass --outdir <dir> of an earlier synth.`);
  }
  let manifest;
  try {
    manifest = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new CliError(`${file} is not valid JSON (${error.message}); synthesize again.`);
  }
  const entries = Object.values(manifest.stacks ?? {});
  if (entries.length === 0) throw new CliError(`${file} lists no stacks: the app created no TerraformStack.`);
  const byName = new Map(entries.map((s) => [s.name, s]));
  const ordered = [];
  const visit = (stack) => {
    if (ordered.includes(stack)) return;
    for (const dep of stack.dependencies ?? []) if (byName.has(dep)) visit(byName.get(dep));
    ordered.push(stack);
  };
  entries.forEach(visit);
  return ordered.map((s) => ({ name: s.name, dir: path.join(outdir, s.workingDirectory), file: path.join(outdir, s.synthesizedStackPath) }));
}

/** The requested stacks (`all` or names), in dependency order; unknown names list the known ones. */
function selectStacks(stacks, requested, outdir) {
  if (requested.length === 0 || requested.includes('all')) return stacks;
  const known = stacks.map((s) => s.name);
  const unknown = requested.filter((name) => !known.includes(name));
  if (unknown.length) {
    throw new CliError(`Unknown stack ${unknown.map((n) => `'${n}'`).join(', ')}. Known stacks (from ${path.join(outdir, 'manifest.json')}): ${known.join(', ')}; or 'all'.`, 2);
  }
  return stacks.filter((s) => requested.includes(s.name));
}

/** Absolute path of an executable on PATH, or undefined. */
function which(command, env = process.env) {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, command);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

function formatDuration(ms) {
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, '0')} s`;
}

/** Progress lines on stderr (`[fleet] ▶ synth` … `[fleet] ✔ synth (0.84 s)`), so stdout stays the tools' own. */
function reporter(name, stream = process.stderr) {
  const line = (text) => stream.write(`[${name}] ${text}\n`);
  return {
    info: line,
    /** Runs `fn` as a named step and reports its outcome with the elapsed time. */
    async step(label, fn) {
      const start = Date.now();
      line(`▶ ${label}`);
      try {
        const result = await fn();
        line(`✔ ${label} (${formatDuration(Date.now() - start)})`);
        return result;
      } catch (error) {
        line(`✖ ${label} failed after ${formatDuration(Date.now() - start)}`);
        throw error;
      }
    },
  };
}

/** Appends Markdown to a summary file such as $GITHUB_STEP_SUMMARY. */
function appendSummary(file, markdown) {
  if (file) fs.appendFileSync(file, `${markdown.trimEnd()}\n\n`);
}

/** Runs a CLI's main function: CliErrors print their message, anything else its stack; sets the exit code. */
function runMain(name, main) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code ?? 0;
    },
    (error) => {
      process.stderr.write(`${name}: ${error instanceof CliError ? error.message : error.stack}\n`);
      process.exitCode = error instanceof CliError ? error.exitCode : 1;
    },
  );
}

module.exports = { CliError, parseOptions, readCdktfConfig, resolveOutdir, readManifest, selectStacks, which, formatDuration, reporter, appendSummary, runMain };
