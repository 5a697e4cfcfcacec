/** Tests run TypeScript through swc (type checks are `npm run build`, which `npm test` runs first). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Builds or finds the job images' root filesystems (mmdebstrap) that the harness runs jobs in.
  globalSetup: '<rootDir>/test/global-setup.ts',
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  // Integration suites start real servers; one worker per core keeps ports and CPU predictable.
  maxWorkers: 2,
  testTimeout: 120000,
};
