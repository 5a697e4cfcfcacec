/** Tests run TypeScript through swc (type checks are `npm run build`, which `npm test` runs first). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  // Integration suites start real servers; one worker per core keeps ports and CPU predictable.
  maxWorkers: 2,
  testTimeout: 120000,
};
