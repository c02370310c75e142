// The independent reference for the query engine (issue 4): computes tumble and hop window
// aggregates with DuckDB over JSON-lines events and prints one JSON object per row.
//
//   node duckdb_reference.mjs --events FILE [--window tumble:SIZE_MS] [--window hop:SLIDE_MS:SIZE_MS]
//        [--window session:GAP_MS] [--live-delay MS --arrival FIELD]
//        [--value temp] [--key device] [--time ts] [--threads N] [--stats]
//
// Events are JSON objects with a key (string), an event time in epoch ms and a numeric value.
// Windows are aligned to multiples of the slide since the epoch, [start, start + size), like
// Proton's and Outpost's. Sessions are per key: sorted by time, an event at most GAP_MS after the
// previous one continues its session; window_end = last event time + GAP_MS.
// Without --live-delay every event counts (what a bounded query over stored data answers).
// With --live-delay D (tumble and hop only) the rows are what a continuous query with watermark
// = max event time seen before the event - D and the drop policy emits when fed the events in
// the order of FIELD: an event counts in each of its windows that had not closed
// (window_end > watermark) when it arrived. Each row: {kind, window_start, window_end, key, n, sum, min, max, avg,
// q: {"0.5": exact order statistic at rank floor(q (n - 1)), ...}, qd: {same with DuckDB's
// quantile_disc}}. `sum` uses DuckDB's fsum (Kahan-Babuska); `avg` DuckDB's avg.
// --stats prints a final {"stats": {...}} line: wall and CPU seconds, peak RSS of this process.
// Resolve @duckdb/node-api from $OUTPOST_NPM_DIR (tools/install-duckdb.sh) or normal lookup.
import { createRequire } from "node:module";
import path from "node:path";

const args = process.argv.slice(2);
const opt = { windows: [], value: "temp", key: "device", time: "ts", threads: 0, stats: false,
              quantiles: [0, 0.01, 0.5, 0.9, 0.99, 1] };
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === "--events") opt.events = args[++i];
  else if (a === "--window") opt.windows.push(args[++i]);
  else if (a === "--value") opt.value = args[++i];
  else if (a === "--key") opt.key = args[++i];
  else if (a === "--time") opt.time = args[++i];
  else if (a === "--threads") opt.threads = Number(args[++i]);
  else if (a === "--quantiles") opt.quantiles = args[++i].split(",").map(Number);
  else if (a === "--stats") opt.stats = true;
  else if (a === "--live-delay") opt.liveDelay = Number(args[++i]);
  else if (a === "--arrival") opt.arrival = args[++i];
  else { console.error(`duckdb_reference: unknown argument ${a}`); process.exit(2); }
}
if (!opt.events || opt.windows.length === 0) {
  console.error("usage: duckdb_reference.mjs --events FILE --window tumble:MS|hop:SLIDE_MS:SIZE_MS ...");
  process.exit(2);
}
const ident = (s) => '"' + s.replaceAll('"', '""') + '"';
const lit = (s) => "'" + s.replaceAll("'", "''") + "'";

let api;
try {
  const base = process.env.OUTPOST_NPM_DIR ? path.join(process.env.OUTPOST_NPM_DIR, "x.js") : import.meta.url;
  api = createRequire(base)("@duckdb/node-api");
} catch (e) {
  console.error("duckdb_reference: @duckdb/node-api not found; run tools/install-duckdb.sh and set OUTPOST_NPM_DIR");
  process.exit(3);
}

const t0 = process.hrtime.bigint();
const db = await api.DuckDBInstance.create(":memory:");
const con = await db.connect();
if (opt.threads > 0) await con.run(`SET threads = ${opt.threads}`);
await con.run("SET preserve_insertion_order = false");

const V = ident(opt.value), K = ident(opt.key), T = ident(opt.time);
const live = opt.liveDelay !== undefined;
if (live && !opt.arrival) { console.error("duckdb_reference: --live-delay needs --arrival FIELD"); process.exit(2); }
const arrivalCol = live ? `, ${lit(opt.arrival)}: 'BIGINT'` : "";
const src = `read_json(${lit(opt.events)}, format = 'newline_delimited', ` +
            `columns = {${lit(opt.key)}: 'VARCHAR', ${lit(opt.time)}: 'BIGINT', ${lit(opt.value)}: 'DOUBLE'${arrivalCol}})`;
// The watermark each event met on arrival (NULL for the first): every earlier event moved it.
const withWatermark = live
  ? `(SELECT *, max(${ident(opt.time)}) OVER (ORDER BY ${ident(opt.arrival)} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) - ${opt.liveDelay} AS wm FROM ${src})`
  : src;

const num = (v) => (typeof v === "bigint" ? Number(v) : v);
for (const w of opt.windows) {
  const parts = w.split(":");
  const kind = parts[0];
  let slide, size;
  let gap;
  if (kind === "tumble" && parts.length === 2) { size = slide = Number(parts[1]); }
  else if (kind === "hop" && parts.length === 3) { slide = Number(parts[1]); size = Number(parts[2]); }
  else if (kind === "session" && parts.length === 2 && !live) { gap = Number(parts[1]); }
  else { console.error(`duckdb_reference: bad --window ${w}`); process.exit(2); }
  // Every window start k*slide with k*slide <= t < k*slide + size.
  // DuckDB's integer // truncates toward zero; windows need floor division (times before the
  // first window start are negative). Epoch ms are exact in doubles (< 2^53).
  const fdiv = (a, b) => `CAST(floor((${a}) / ${b}.0) AS BIGINT)`;
  const qs = opt.quantiles;
  const exact = qs.map((q, i) => `list_extract(sorted, CAST(floor(${q} * (n - 1)) AS BIGINT) + 1) AS q${i}`).join(", ");
  const disc = qs.map((q, i) => `quantile_disc(v, ${q}) AS d${i}`).join(", ");
  let e;
  if (kind === "session") {
    // A new session where the previous event of the key is more than the gap back.
    e = `s0 AS (SELECT ${K} AS k, ${T} AS t, ${V} AS v,
                       CASE WHEN ${T} - lag(${T}) OVER (PARTITION BY ${K} ORDER BY ${T}) <= ${gap} THEN 0 ELSE 1 END AS brk
                FROM ${src} WHERE ${V} IS NOT NULL),
         s1 AS (SELECT *, sum(brk) OVER (PARTITION BY k ORDER BY t, brk DESC ROWS UNBOUNDED PRECEDING) AS sid FROM s0),
         e AS (SELECT min(t) OVER (PARTITION BY k, sid) AS ws, max(t) OVER (PARTITION BY k, sid) + ${gap} AS we, k, v FROM s1)`;
  } else {
    const starts = kind === "tumble"
      ? `${fdiv(T, size)} * ${size}`
      : `unnest(generate_series(${fdiv(`${T} - ${size}`, slide)} + 1, ${fdiv(T, slide)})) * ${slide}`;
    // Live: a (event, window) pair counts only if the window was open when the event came.
    const open = live ? "WHERE wm IS NULL OR ws + " + size + " > wm" : "";
    e = `p AS (SELECT ${starts} AS ws, ${K} AS k, ${V} AS v${live ? ", wm" : ""} FROM ${withWatermark} WHERE ${V} IS NOT NULL),
         e AS (SELECT ws, ws + ${size} AS we, k, v FROM p ${open})`;
  }
  const sql = `
    WITH ${e},
    g AS (SELECT ws, we, k, count(*) AS n, fsum(v) AS sum, min(v) AS min, max(v) AS max, avg(v) AS avg,
                 list_sort(list(v)) AS sorted, ${disc}
          FROM e GROUP BY ws, we, k)
    SELECT ws, we, k, n, sum, min, max, avg, ${exact}, ${qs.map((_, i) => `d${i}`).join(", ")}
    FROM g ORDER BY ws, k`;
  const reader = await con.runAndReadAll(sql);
  const out = [];
  for (const r of reader.getRowObjectsJS()) {
    const row = { kind, window_start: num(r.ws), window_end: num(r.we), key: r.k, n: num(r.n),
                  sum: r.sum, min: r.min, max: r.max, avg: r.avg, q: {}, qd: {} };
    qs.forEach((q, i) => { row.q[String(q)] = r[`q${i}`]; row.qd[String(q)] = r[`d${i}`]; });
    out.push(JSON.stringify(row));
  }
  if (out.length) process.stdout.write(out.join("\n") + "\n");
}
if (opt.stats) {
  const u = process.resourceUsage();
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stdout.write(JSON.stringify({ stats: {
    wall_s: wall, cpu_s: (u.userCPUTime + u.systemCPUTime) / 1e6, peak_rss_bytes: u.maxRSS * 1024,
    threads: opt.threads } }) + "\n");
}
