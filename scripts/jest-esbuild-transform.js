// Jest transform: esbuild turns TypeScript (and ESM-only dependencies such as execa) into
// CommonJS in milliseconds. Type-checking is its own step (`npm run typecheck`).
const { transformSync } = require('esbuild');

const ESM_SYNTAX = /^\s*(import|export)\s/m;

module.exports = {
  process(source, filename) {
    const isTs = /\.tsx?$/.test(filename);
    if (!isTs && !ESM_SYNTAX.test(source)) return { code: source };
    const { code, map } = transformSync(source, {
      loader: isTs ? 'ts' : 'js',
      format: 'cjs',
      target: 'node20',
      sourcemap: 'external',
      sourcefile: filename,
      supported: { 'dynamic-import': false },
    });
    return { code, map };
  },
  getCacheKey(source, filename) {
    return require('crypto').createHash('sha256').update(require('esbuild').version).update(filename).update('\0').update(source).digest('hex');
  },
};
