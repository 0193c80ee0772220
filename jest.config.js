/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  moduleFileExtensions: ['ts', 'js', 'mjs', 'cjs', 'json'],
  transform: { '\\.(ts|js|mjs)$': '<rootDir>/scripts/jest-esbuild-transform.js' },
  // ESM-only dependencies (execa and its helpers) go through the same transform; it leaves CommonJS untouched.
  transformIgnorePatterns: [],
  // unicorn-magic (an execa helper) publishes only an "import" export condition.
  moduleNameMapper: { '^unicorn-magic$': '<rootDir>/node_modules/unicorn-magic/node.js' },
  setupFilesAfterEnv: ['<rootDir>/test/setup.ts'],
  testTimeout: 30000,
  maxWorkers: 2,
};
