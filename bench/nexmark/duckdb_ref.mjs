// The independent computation for bench/nexmark: DuckDB (@duckdb/node-api, threads=1) runs each
// Nexmark query over the same events (JSON lines from generator.py) and writes its rows as JSON
// lines to OUT/<query>.jsonl. Prints one JSON line per query: {query, wall_s, cpu_s}, and
// first {load_wall_s, load_cpu_s} for reading the events into a table.
//
//   node duckdb_ref.mjs --events FILE --out DIR [--threads 1]
//
// Window rows carry window_start/window_end as epoch ms. Semantics as Outpost's (agent/query/
// README.md): windows [start, end) aligned to the epoch, hop windows start at multiples of the
// slide, a session continues while the next bid is at most gap after the last one and ends at
// last + gap. Events are in event-time order, so with the 4 s delay no event is late.
import { createRequire } from "node:module";
import path from "node:path";

const args = process.argv.slice(2);
let events = null, out = null, threads = 1;
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--events") events = args[++i];
  else if (args[i] === "--out") out = args[++i];
  else if (args[i] === "--threads") threads = Number(args[++i]);
  else { console.error(`duckdb_ref: unknown argument ${args[i]}`); process.exit(2); }
}
if (!events || !out) { console.error("usage: duckdb_ref.mjs --events FILE --out DIR"); process.exit(2); }
let api;
try {
  const base = process.env.OUTPOST_NPM_DIR ? path.join(process.env.OUTPOST_NPM_DIR, "x.js") : import.meta.url;
  api = createRequire(base)("@duckdb/node-api");
} catch {
  console.error("duckdb_ref: @duckdb/node-api not found; run tools/install-duckdb.sh and set OUTPOST_NPM_DIR");
  process.exit(3);
}
const lit = (s) => "'" + s.replaceAll("'", "''") + "'";
const db = await api.DuckDBInstance.create(":memory:");
const con = await db.connect();
await con.run(`SET threads = ${threads}`);
const cpu = () => { const u = process.resourceUsage(); return (u.userCPUTime + u.systemCPUTime) / 1e6; };
const timed = async (sql) => {
  const c0 = cpu(), t0 = process.hrtime.bigint();
  await con.run(sql);
  return { wall_s: Number(process.hrtime.bigint() - t0) / 1e9, cpu_s: cpu() - c0 };
};

const cols = "columns = {'event_type': 'INTEGER', 'date_time': 'BIGINT', 'auction': 'BIGINT', " +
             "'bidder': 'BIGINT', 'price': 'BIGINT', 'extra': 'VARCHAR'}";
const load = await timed(`CREATE TABLE bid AS SELECT auction, bidder, price, date_time, extra FROM ` +
                         `read_json(${lit(events)}, format = 'newline_delimited', ${cols}) WHERE event_type = 2`);
process.stdout.write(JSON.stringify({ load_wall_s: load.wall_s, load_cpu_s: load.cpu_s }) + "\n");

const q5counts = `SELECT ws AS window_start, ws + 10000 AS window_end, auction, count(*) AS num
  FROM (SELECT auction, (date_time // 2000) * 2000 - k * 2000 AS ws FROM bid, range(0, 5) t(k)) GROUP BY ALL`;
const queries = {
  q0: "SELECT auction, bidder, price, date_time, extra FROM bid",
  q1: "SELECT auction, bidder, 0.908::DOUBLE * price AS price, date_time, extra FROM bid",
  q2: "SELECT auction, price FROM bid WHERE auction % 123 = 0",
  q5_counts: q5counts,
  q5: `SELECT window_start, window_end, auction, num FROM (${q5counts})
       QUALIFY num = max(num) OVER (PARTITION BY window_start)`,
  q7: `SELECT (date_time // 10000) * 10000 AS window_start, (date_time // 10000) * 10000 + 10000 AS window_end,
       max(price) AS maxprice FROM bid GROUP BY ALL`,
  q11: `SELECT bidder, count(*) AS bid_count, min(date_time) AS window_start, max(date_time) + 10000 AS window_end
        FROM (SELECT bidder, date_time, sum(brk) OVER (PARTITION BY bidder ORDER BY date_time
                                                     ROWS UNBOUNDED PRECEDING) AS sid
              FROM (SELECT bidder, date_time,
                           CASE WHEN date_time - lag(date_time) OVER (PARTITION BY bidder ORDER BY date_time) <= 10000
                                THEN 0 ELSE 1 END AS brk FROM bid))
        GROUP BY bidder, sid`,
};
for (const [name, sql] of Object.entries(queries)) {
  const file = path.join(out, `${name}.jsonl`);
  const t = await timed(`COPY (${sql}) TO ${lit(file)} (FORMAT json)`);
  process.stdout.write(JSON.stringify({ query: name, ...t }) + "\n");
}
