// Jest test sequencer for scripts/test-e2e.sh: the e2e suites in a fixed order
// (each brings its own lab up and tears it down, or needs none): the quick ones first, then the
// deployments in the order of their issues. Suites not listed run last, by name.
"use strict";
const path = require("path");
const Sequencer = require("@jest/test-sequencer").default;

const ORDER = ["toolchain", "preview", "fleet", "cluster", "platforms", "backup", "security", "day2", "library", "drill"];
const rank = (test) => {
    const i = ORDER.indexOf(path.basename(test.path).replace(/\.e2e\.test\.ts$/, ""));
    return i < 0 ? ORDER.length : i;
};

class E2eOrder extends Sequencer {
    sort(tests) {
        return [...tests].sort((a, b) => rank(a) - rank(b) || a.path.localeCompare(b.path));
    }
}

module.exports = E2eOrder;
