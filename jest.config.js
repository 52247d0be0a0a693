// @kubernetes/client-node 1.x and a few of its dependencies ship only ESM. Jest on
// Node 20 loads tests as CommonJS, so those packages are let through ts-jest
// (allowJs) and transformed instead of being ignored like the rest of node_modules.
const esmPackages = ['@kubernetes/client-node', 'openid-client', 'oauth4webapi', 'jose'];

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  testMatch: [
    '<rootDir>/{test,crds,contracts,workflows,activities,engines,watcher,plugin,common,cmd,tools}/**/*.test.ts',
  ],
  modulePathIgnorePatterns: ['<rootDir>/dist/', '<rootDir>/.stack/', '<rootDir>/.bin/', '<rootDir>/.images/'],
  transform: {
    '^.+\\.[tj]sx?$': ['ts-jest', { tsconfig: { allowJs: true, isolatedModules: true }, diagnostics: false }],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${esmPackages.join('|')})/)`],
  globalSetup: '<rootDir>/test/setup/global-setup.ts',
  globalTeardown: '<rootDir>/test/setup/global-teardown.ts',
  reporters: ['default', '<rootDir>/test/setup/summary-reporter.js'],
  testTimeout: 120_000,
  maxWorkers: 2,
};
