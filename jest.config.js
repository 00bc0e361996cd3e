// Two projects: `unit` (pure core, seconds) and `e2e` (real servers, minutes).
// testTimeout is a global Jest option, so it follows the selected project.
const e2eSelected = process.argv.some((a, i, all) => a === "e2e" && all[i - 1] === "--selectProjects");

// Transpile only (tsconfig.jest.json: isolatedModules): `npm test` type-checks the whole program
// once with tsc first, so type-checking each test file again only made the unit run slower.
const tsJest = { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.jest.json" }] };

/** @type {import('jest').Config} */
module.exports = {
    // Unit: 30 s, since `npm test` builds the toolchain (Go, both cores) beside them on a fresh machine.
    testTimeout: e2eSelected ? 30 * 60 * 1000 : 30 * 1000,
    projects: [
        {
            displayName: "unit",
            testEnvironment: "node",
            roots: ["<rootDir>/tests/unit"],
            testMatch: ["<rootDir>/tests/unit/**/*.test.ts"],
            transform: tsJest,
            moduleFileExtensions: ["ts", "js", "json"],
        },
        {
            displayName: "e2e",
            testEnvironment: "node",
            roots: ["<rootDir>/tests/e2e"],
            testMatch: ["<rootDir>/tests/e2e/**/*.test.ts"],
            transform: tsJest,
            moduleFileExtensions: ["ts", "js", "json"],
        },
    ],
};
