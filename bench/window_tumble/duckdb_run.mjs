// Runs one SQL statement with DuckDB (@duckdb/node-api) and prints one JSON line of timings,
// for bench/window_*: the reference engine of issue 4's benchmarks.
//
//   node duckdb_run.mjs --threads 1 [--setup SQL]... --sql SQL
//
// --setup statements run first and are not timed (e.g. converting JSON lines to Parquet).
// Prints {"query_wall_s", "query_cpu_s", "rss_after_setup_bytes"}; the caller measures the
// process's peak RSS with wait4(). CPU is this process's user+sys during the query (DuckDB runs
// in-process; with threads=1 that is one worker).
import { createRequire } from "node:module";
import path from "node:path";

const args = process.argv.slice(2);
let threads = 1;
let sql = null;
const setup = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--threads") threads = Number(args[++i]);
  else if (args[i] === "--sql") sql = args[++i];
  else if (args[i] === "--setup") setup.push(args[++i]);
  else { console.error(`duckdb_run: unknown argument ${args[i]}`); process.exit(2); }
}
if (!sql) { console.error("duckdb_run: --sql is required"); process.exit(2); }
let api;
try {
  const base = process.env.OUTPOST_NPM_DIR ? path.join(process.env.OUTPOST_NPM_DIR, "x.js") : import.meta.url;
  api = createRequire(base)("@duckdb/node-api");
} catch {
  console.error("duckdb_run: @duckdb/node-api not found; run tools/install-duckdb.sh and set OUTPOST_NPM_DIR");
  process.exit(3);
}
const db = await api.DuckDBInstance.create(":memory:");
const con = await db.connect();
await con.run(`SET threads = ${threads}`);
for (const s of setup) await con.run(s);
const cpu = () => { const u = process.resourceUsage(); return (u.userCPUTime + u.systemCPUTime) / 1e6; };
const rssAfterSetup = process.memoryUsage().rss;
const c0 = cpu();
const t0 = process.hrtime.bigint();
await con.run(sql);
const wall = Number(process.hrtime.bigint() - t0) / 1e9;
const c1 = cpu();
process.stdout.write(JSON.stringify({ query_wall_s: wall, query_cpu_s: c1 - c0,
                                      rss_after_setup_bytes: rssAfterSetup }) + "\n");
