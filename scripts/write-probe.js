#!/usr/bin/env node
// A write probe through the front door: one acknowledged INSERT every 200 ms
// with psql (a real client), until SIGTERM/SIGINT; then prints JSON:
// {"writes":N,"failed":N,"longestOutageMs":N,"ids":[acknowledged ids...],"ackedAtMs":[when each was acknowledged]}.
// The longest outage is the longest time between two acknowledged writes.
//   PGPASSWORD=... node scripts/write-probe.js <host> <port> [intervalMs]
"use strict";
const { spawnSync } = require("child_process");

const [host, port, intervalArg] = process.argv.slice(2);
const interval = Number(intervalArg || 200);
const conn = `host=${host} port=${port} user=postgres dbname=postgres connect_timeout=2`;
const psql = (sql) => spawnSync("psql", [conn, "-AtX", "-v", "ON_ERROR_STOP=1", "-c", sql], { timeout: 5000, encoding: "utf8" });

let stop = false;
process.on("SIGTERM", () => (stop = true));
process.on("SIGINT", () => (stop = true));

const run = Date.now();
const acked = [];
const ackedAt = [];
let failed = 0;
let lastOk = undefined;
let longest = 0;

(async () => {
    const ddl = "create table if not exists pgha_probe (run bigint, id int, at timestamptz default now(), primary key (run, id))";
    for (let i = 0; i < 50 && psql(ddl).status !== 0; i++) await new Promise((r) => setTimeout(r, 200));
    for (let id = 1; !stop; id++) {
        const started = Date.now();
        const r = psql(`insert into pgha_probe (run, id) values (${run}, ${id})`);
        const now = Date.now();
        if (r.status === 0) {
            if (lastOk !== undefined) longest = Math.max(longest, now - lastOk);
            lastOk = now;
            acked.push(id);
            ackedAt.push(now);
        } else failed++;
        const wait = interval - (Date.now() - started);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    process.stdout.write(JSON.stringify({ run, writes: acked.length, failed, longestOutageMs: longest, ids: acked, ackedAtMs: ackedAt }) + "\n");
})();
