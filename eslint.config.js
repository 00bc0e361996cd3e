// ESLint (flat config): the recommended rules of ESLint and typescript-eslint over the
// program, the library, the tests, the composed example and the helper scripts; formatting is
// Prettier's (eslint-config-prettier turns the stylistic rules off). `npm run lint`.
const js = require("@eslint/js");
const tseslint = require("typescript-eslint");
const prettier = require("eslint-config-prettier");
// The Node.js globals the CommonJS scripts use (no `globals` package for five names).
const node = Object.fromEntries(["require", "module", "exports", "process", "console", "__dirname", "__filename", "Buffer", "setTimeout", "clearTimeout"].map((n) => [n, "readonly"]));

module.exports = tseslint.config(
    { ignores: ["node_modules/", "dist/", "bin/", ".lab/", ".pulumi-state/", "toolchain/", "lab/", "reports/", ".stryker-tmp/", "examples/composed/node_modules/"] },
    js.configs.recommended,
    ...tseslint.configs.recommended,
    {
        files: ["**/*.js"],
        languageOptions: { sourceType: "commonjs", globals: node },
        rules: { "@typescript-eslint/no-require-imports": "off" }, // CommonJS scripts: require() is how they load modules
    },
    {
        rules: {
            "no-control-regex": "off", // the input checks (core/config-schema.ts CONTROL_RE, core/config-secrets.ts, their tests) match control characters on purpose
            "@typescript-eslint/no-unused-vars": ["error", { ignoreRestSiblings: true }], // `const { key: _, ...rest } = o` is how a key is dropped from a copy
        },
    },
    {
        files: ["tests/**/*.ts"],
        rules: { "@typescript-eslint/no-explicit-any": "off" }, // tests edit untyped documents (raw stack values, YAML, mock monitor requests) into invalid shapes on purpose; the program and library keep the rule
    },
    prettier,
);
