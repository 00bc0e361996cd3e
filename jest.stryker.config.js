// The unit project of jest.config.js on its own, for StrykerJS (`npm run mutation`): its jest
// runner takes one config, not a --selectProjects choice among projects.
// - ts-jest transpiles without type checking (isolatedModules): each mutant is one more jest
//   run, and the typescript checker in stryker.config.json already sets aside mutants that do
//   not compile.
// - The suites that start real daemons or run the server programs (server/*.py against etcd,
//   PostgreSQL, a stand-in Patroni API) are left out: they test code Stryker does not mutate,
//   take seconds to minutes per run, and bind fixed loopback ports (two runs at once collide).
const { compilerOptions } = require("./tsconfig.json");
const unit = require("./jest.config.js").projects.find((p) => p.displayName === "unit");

const REAL_PROGRAM_SUITES = ["etcd-leader-away", "etcd-member", "etcd-membership", "etcd-tls", "patroni-handover", "patroni-wait", "pg-set-passwords", "pgha-verify", "server-programs"];

/** @type {import('jest').Config} */
module.exports = {
    ...unit,
    rootDir: __dirname,
    testTimeout: 10 * 1000,
    testPathIgnorePatterns: ["/node_modules/", `/tests/unit/(${REAL_PROGRAM_SUITES.join("|")})\\.test\\.ts$`],
    transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: { ...compilerOptions, isolatedModules: true } }] },
};
