#include "agent/runtime/daemon.h"

#include <uv.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "agent/http/metrics.h"
#include "agent/http/server.h"
#include "agent/ingest/mqtt_source.h"
#include "agent/ingest/serial_source.h"
#include "agent/runtime/ingest_sink.h"
#include "agent/runtime/logging.h"
#include "agent/runtime/memory.h"
#include "agent/runtime/notify.h"
#include "agent/runtime/query_host.h"
#include "agent/runtime/status_json.h"
#include "sync/sync.h"

namespace outpost::runtime {
namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch()).count();
}

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch()).count();
}

ingest::SourceLogger source_logger() {
  return [](int level, std::string_view component, std::string_view message) {
    log_line(static_cast<LogLevel>(level), component, message);
  };
}

// Comparable descriptions of the parts of a plan, to tell what a reload changed.
std::string describe_store(const store::Options& o) {
  std::ostringstream s;
  s << o.data_dir << '|' << o.segment_bytes << '|' << o.block_bytes << '|' << o.flush_interval_ms << '|'
    << o.flush_bytes << '|' << static_cast<int>(o.fsync) << '|' << o.zstd_level << '|' << o.quota_bytes << '|'
    << static_cast<int>(o.on_full);
  return s.str();
}

std::string describe_decode(const decode::StreamSpec& d) {
  std::ostringstream s;
  s << decode::format_name(d.format) << '|' << d.key_field << '|' << d.max_payload_bytes << '|'
    << decode::undeclared_name(d.undeclared) << '|' << d.json_max_depth;
  for (const auto& f : d.fields) {
    s << "|f:" << f.name << ',' << f.path << ',' << decode::field_type_name(f.type) << ',' << f.required << ','
      << decode::time_format_name(f.time_format);
  }
  if (d.time) {
    s << "|t:" << d.time->field << ',' << decode::time_format_name(d.time->format) << ','
      << d.time->fallback_to_ingest_time;
  }
  s << "|csv:" << d.csv.delimiter << ',' << decode::csv_header_name(d.csv.header) << ',' << d.csv.trim_spaces;
  for (const auto& c : d.csv.columns) s << ',' << c;
  s << "|kv:" << d.kv.separators << ',' << d.kv.assign << ',' << d.kv.max_pairs;
  return s.str();
}

std::string describe_streams(const std::vector<StreamPlan>& streams) {
  std::ostringstream s;
  for (const auto& st : streams) {
    s << st.name << '|' << st.dead_letter_stream << '|' << st.retention.retention_ms << '|'
      << st.retention.retention_bytes << '|' << describe_decode(st.decode) << ';';
  }
  return s.str();
}

// A source's settings, password excluded: the password is compared with the TLS files' content
// (CredentialCheck), so that a rotated password_file is reported as a credential change.
std::string describe_mqtt(const ingest::MqttSourceOptions& o) {
  std::ostringstream s;
  s << "mqtt|" << o.name << '|' << o.broker << '|' << o.client_id << '|' << static_cast<int>(o.version) << '|'
    << o.clean_session << '|' << o.keepalive_s << '|' << o.username << '|' << o.tls.ca_file << '|'
    << o.tls.cert_file << '|' << o.tls.key_file << '|' << o.max_inflight << '|' << static_cast<int>(o.ack) << '|'
    << o.reconnect.min_ms << '|' << o.reconnect.max_ms << '|' << o.session_expiry_s << '|' << o.connect_timeout_s
    << '|' << o.tls.enabled << '|' << o.tls.verify << '|' << o.persistence_dir;
  for (const auto& sub : o.subscriptions) s << '|' << sub.filter << ',' << sub.qos << ',' << sub.stream;
  return s.str();
}

std::string describe_serial(const ingest::SerialSourceOptions& o) {
  std::ostringstream s;
  s << "serial|" << o.name << '|' << o.device << '|' << o.stream << '|' << o.baud << '|' << o.data_bits << '|'
    << static_cast<int>(o.parity) << '|' << o.stop_bits << '|' << static_cast<int>(o.framing) << '|' << o.delimiter
    << '|' << o.max_line_bytes << '|' << o.frame_bytes << '|' << static_cast<int>(o.flow_control) << '|'
    << o.strip_cr << '|' << o.reopen.min_ms << '|' << o.reopen.max_ms << '|' << static_cast<int>(o.ack);
  return s.str();
}

// One source of a plan, in start order, with what a reload compares it by.
struct SourceSpec {
  std::string label;      // "mqtt source 'plant'": kind and name, unique in a plan
  std::string settings;   // describe_mqtt() / describe_serial()
  bool mqtt = false;
  std::size_t index = 0;  // into Plan::mqtt_sources or Plan::serial_sources
};

std::vector<SourceSpec> source_specs(const Plan& p) {
  std::vector<SourceSpec> specs;
  for (std::size_t i = 0; i < p.mqtt_sources.size(); ++i) {
    specs.push_back(
        SourceSpec{"mqtt source '" + p.mqtt_sources[i].name + "'", describe_mqtt(p.mqtt_sources[i]), true, i});
  }
  for (std::size_t i = 0; i < p.serial_sources.size(); ++i) {
    specs.push_back(
        SourceSpec{"serial source '" + p.serial_sources[i].name + "'", describe_serial(p.serial_sources[i]), false, i});
  }
  return specs;
}

// Reads the source's credential files now (serial sources have none).
CredentialCheck check_source(const Plan& p, const SourceSpec& spec) {
  if (!spec.mqtt) return {};
  const auto& o = p.mqtt_sources[spec.index];
  auto it = p.source_credentials.find(o.name);
  return check_credentials(it == p.source_credentials.end() ? Credentials{} : it->second, o.password);
}

std::string describe_queries(const std::vector<QueryPlan>& queries) {
  std::ostringstream s;
  for (const auto& q : queries) {
    s << q.name << '|' << q.sql << '|' << q.input_stream << '|' << q.result_stream << '|' << q.late_update << '|'
      << q.allowed_lateness_ms << '|' << q.idle_timeout_ms << '|' << q.start_earliest << ';';
  }
  return s.str();
}

// Central's settings, the SASL password excluded (compared with the TLS files' content, as for
// sources).
std::string describe_sync(const sync::SyncSettings& ss) {
  std::ostringstream s;
  const auto& c = ss.central;
  s << ss.agent << '|' << c.brokers << '|' << c.security_protocol << '|' << c.sasl_mechanism << '|' << c.sasl_username
    << '|' << c.tls_ca_file << '|' << c.tls_cert_file << '|' << c.tls_key_file << '|'
    << c.compression << '|' << c.gap_topic << '|' << c.cursor_topic;
  for (const auto& [k, v] : c.properties) s << '|' << k << '=' << v;
  for (const auto& m : ss.mirrors) {
    s << ";" << m.name << '|' << m.stream << '|' << m.topic << '|' << static_cast<int>(m.key) << '|' << m.priority
      << '|' << m.max_records_per_s << '|' << m.max_bytes_per_s << '|' << static_cast<int>(m.delivery);
  }
  return s.str();
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

}  // namespace

// Quiet time after an ingest burst before memory is given back (memory.h).
constexpr std::int64_t kQuietReleaseMs = 30 * 1000;
// Free heap pages are given back this often under a steady load (memory.h trim_free_heap).
constexpr std::int64_t kHeapTrimIntervalMs = 10 * 1000;

struct Daemon::Impl {
  Impl(Plan p, PlanLoader l) : loader(std::move(l)), plan(std::move(p)) {}

  PlanLoader loader;
  Plan plan;
  std::unique_ptr<store::Log> log;
  std::map<std::string, std::unique_ptr<StreamRuntime>, std::less<>> streams;
  StoreHealth store_health;

  struct SourceSlot {
    std::unique_ptr<IngestSink> sink;  // declared first: destroyed after the source
    std::unique_ptr<ingest::Source> source;
    std::string label;              // SourceSpec::label
    std::string settings;           // SourceSpec::settings it was started with
    CredentialCheck credentials;    // its credential files' content when it was started
  };
  std::vector<SourceSlot> sources;  // in the plan's order
  std::vector<std::unique_ptr<QueryHost>> queries;
  // What FROM names resolve to; replaced on reload, shared with HTTP threads running /v1/query.
  std::shared_ptr<const StreamCatalog> stream_catalog;  // GUARDED_BY(catalog_mu)
  mutable std::mutex catalog_mu;
  std::unique_ptr<sync::Sync> sync;
  CredentialCheck sync_credentials;  // central's credential files' content when sync was started
  std::unique_ptr<http::Server> http;
  SystemdNotifier notifier;

  uv_loop_t loop{};
  uv_signal_t sig_term{}, sig_int{}, sig_hup{};
  uv_timer_t tick{};
  uv_async_t stop_async{};
  std::atomic<bool> stopping{false};
  std::int64_t started_steady_ms = steady_ms();
  std::int64_t started_wall_ms = now_ms();

  // Watchdog: the durable sequence per stream at the previous tick, to tell a stuck flusher
  // from an idle one.
  std::map<store::StreamId, std::pair<std::uint64_t, std::uint64_t>> last_progress;  // id -> (last, durable)
  std::int64_t last_watchdog_ms = 0;
  // Ingest activity, to give memory back once a burst has been quiet for kQuietReleaseMs.
  std::uint64_t last_ingested = 0;
  std::int64_t last_ingest_change_ms = 0;
  std::int64_t last_heap_trim_ms = 0;  // kHeapTrimIntervalMs
  bool released_since_ingest = true;
  std::int64_t last_status_ms = 0;
  std::uint64_t last_status_records = 0;
  std::string last_commit_error;  // logged once per change, not every tick
  // Each mirror's state at the last status round and since when (steady ms), so that losing and
  // regaining central is one journal line each, not silence (metrics alone are not read on a
  // site nobody watches) and not a line per retry.
  std::map<std::string, std::pair<sync::MirrorState, std::int64_t>> mirror_states;
  // Sampled every second, not with the 5 s status line: a mirror online for less than one
  // status round between start-up (offline until its first probe) and an outage was never
  // seen online, so the outage was never logged (a flaky fault test).
  std::int64_t last_mirror_check_ms = 0;
  void log_mirror_changes(const std::vector<sync::MirrorMetrics>& mirrors, std::int64_t now);

  // Serialises snapshots taken by HTTP threads, and keeps `sources`, `queries`, `sync` and `plan`
  // whole while one reads them: the loop thread holds it whenever it replaces those (reload,
  // shutdown), so a scrape during SIGHUP never sees a source or mirror being destroyed.
  mutable std::mutex snapshot_mu;

  Status start();
  Status open_log();
  Status open_streams();
  Status start_sources();
  Status start_source(const Plan& from, const SourceSpec& spec, CredentialCheck credentials);
  void stop_sources();
  std::shared_ptr<const StreamCatalog> catalog();
  Status start_queries();
  void stop_queries();
  Status start_sync();
  void stop_sync();
  Status start_http();
  void reload();
  void reload_sources(Plan* next, std::vector<std::string>* applied, std::vector<std::string>* kept);
  bool reload_sync(Plan* next, std::vector<std::string>* kept);
  void shutdown();
  void on_tick();

  StatusSnapshot snapshot() const;
  std::string metrics_text() const;
  http::Health health() const;
};

Status Daemon::Impl::open_log() {
  store::RecoveryReport report;
  auto opened = store::Log::open(plan.store, &report);
  if (!opened.is_ok()) return opened.status().with_context("opening the log in " + plan.store.data_dir.string());
  log = std::move(opened).value();
  for (const auto& d : report.truncated_tails) {
    log_warning("store", "cut a torn tail of " + d.segment.string() + " at byte " + std::to_string(d.offset) +
                             ": " + d.message);
  }
  for (const auto& d : report.corrupt_blocks) {
    log_error("store", "damaged block in " + d.segment.string() + " at byte " + std::to_string(d.offset) +
                           " (seq " + std::to_string(d.first_seq) + ".." + std::to_string(d.last_seq) +
                           "): " + d.message + "; readers skip it");
  }
  for (const auto& r : report.catalog_repairs) log_warning("store", "catalog repaired: " + r);
  if (report.journal_records_replayed > 0) {
    log_info("store", "replayed " + std::to_string(report.journal_records_replayed) +
                          " acknowledged records from the intake journal");
  }
  return Status::ok();
}

Status Daemon::Impl::open_streams() {
  for (const auto& sp : plan.streams) {
    auto rt = std::make_unique<StreamRuntime>();
    rt->plan = sp;
    auto id = log->open_stream(sp.name, sp.retention);
    if (!id.is_ok()) return id.status().with_context("stream " + sp.name);
    rt->id = id.value();
    auto dead = log->open_stream(sp.dead_letter_stream, sp.retention);
    if (!dead.is_ok()) return dead.status().with_context("dead-letter stream " + sp.dead_letter_stream);
    rt->dead_letter_id = dead.value();
    streams[sp.name] = std::move(rt);
  }
  // `outpost query --data-dir` without the config then still knows each stream's fields.
  for (const auto& schema : plan.stream_schemas) {
    Status st = save_stream_schema(log.get(), schema);
    if (!st.is_ok()) return st.with_context("saving the schema of stream " + schema.name);
  }
  return Status::ok();
}

// `from` is the plan `spec` was made from (the running one, or the next one during a reload).
Status Daemon::Impl::start_source(const Plan& from, const SourceSpec& spec, CredentialCheck credentials) {
  std::unique_ptr<IngestSink> sink;
  std::unique_ptr<ingest::Source> source;
  if (spec.mqtt) {
    const auto& o = from.mqtt_sources[spec.index];
    sink = std::make_unique<IngestSink>(log.get(), &streams, &store_health, /*mqtt=*/true, o.broker + "/");
    source = std::make_unique<ingest::MqttSource>(o, sink.get(), source_logger());
  } else {
    const auto& o = from.serial_sources[spec.index];
    sink = std::make_unique<IngestSink>(log.get(), &streams, &store_health, /*mqtt=*/false, std::string());
    source = std::make_unique<ingest::SerialSource>(o, sink.get(), source_logger());
  }
  Status st = source->start();
  if (!st.is_ok()) return st.with_context("source " + source->name());
  sources.push_back(SourceSlot{std::move(sink), std::move(source), spec.label, spec.settings, std::move(credentials)});
  return Status::ok();
}

Status Daemon::Impl::start_sources() {
  for (const auto& spec : source_specs(plan)) {
    CredentialCheck credentials = check_source(plan, spec);
    for (const auto& problem : credentials.problems) {
      log_warning("config", spec.label + ": " + problem + "; it cannot connect until the file is fixed (then reload)");
    }
    OUTPOST_RETURN_IF_ERROR(start_source(plan, spec, std::move(credentials)));
  }
  return Status::ok();
}

void Daemon::Impl::stop_sources() {
  for (auto& slot : sources) slot.source->stop();
  sources.clear();
}

std::shared_ptr<const StreamCatalog> Daemon::Impl::catalog() {
  std::lock_guard lock(catalog_mu);
  if (!stream_catalog) {
    stream_catalog = std::make_shared<const StreamCatalog>(log.get(), plan.stream_schemas);
  }
  return stream_catalog;
}

Status Daemon::Impl::start_queries() {
  {
    std::lock_guard lock(catalog_mu);
    stream_catalog.reset();  // the streams may have changed (reload)
  }
  auto streams_known = catalog();
  for (const auto& q : plan.queries) {
    auto host = QueryHost::create(log.get(), q, streams_known->catalog());
    if (!host.is_ok()) return host.status().with_context("query " + q.name);
    Status st = host.value()->start();
    if (!st.is_ok()) return st.with_context("query " + q.name);
    queries.push_back(std::move(host).value());
  }
  return Status::ok();
}

void Daemon::Impl::stop_queries() {
  for (auto& q : queries) q->stop();
  queries.clear();
}

Status Daemon::Impl::start_sync() {
  if (!plan.sync_enabled || plan.sync.mirrors.empty()) return Status::ok();
  sync_credentials = check_credentials(plan.central_credentials, plan.sync.central.sasl_password);
  for (const auto& problem : sync_credentials.problems) {
    log_warning("config", "central: " + problem + "; mirrors cannot connect until the file is fixed (then reload)");
  }
  auto created = sync::Sync::create(log.get(), plan.sync);
  if (!created.is_ok()) return created.status().with_context("central");
  sync = std::move(created).value();
  return sync->start();
}

void Daemon::Impl::stop_sync() {
  if (sync) sync->stop(5000);
  sync.reset();
}

Status Daemon::Impl::start_http() {
  if (plan.http_listen.empty()) return Status::ok();
  http::Handlers h;
  h.metrics = [this] { return metrics_text(); };
  h.health = [this] { return health(); };
  h.status = [this] { return status_json(snapshot()); };
  h.streams = [this] { return streams_json(snapshot()); };
  h.query = [this](const std::string& sql) {
    auto streams_known = catalog();
    return run_historical_query(log.get(), sql, streams_known->catalog());
  };
  auto server = http::Server::start(plan.http_listen, std::move(h));
  if (!server.is_ok()) return server.status().with_context("agent.http.listen");
  http = std::move(server).value();
  log_info("http", "listening on " + http->address());
  return Status::ok();
}

Status Daemon::Impl::start() {
  LogLevel level;
  if (parse_log_level(plan.log_level, &level)) set_log_level(level);
  OUTPOST_RETURN_IF_ERROR(open_log());
  OUTPOST_RETURN_IF_ERROR(open_streams());
  // Queries and sync only read the log; start them before the sources so that nothing
  // ingested waits for them.
  OUTPOST_RETURN_IF_ERROR(start_queries());
  OUTPOST_RETURN_IF_ERROR(start_sync());
  OUTPOST_RETURN_IF_ERROR(start_sources());
  OUTPOST_RETURN_IF_ERROR(start_http());
  return Status::ok();
}

void Daemon::Impl::shutdown() {
  notifier.stopping("shutting down: stopping sources, flushing the log");
  log_info("outpost", "shutting down");
  {
    std::lock_guard<std::mutex> parts(snapshot_mu);
    stop_sources();
    if (log) {
      Status st = log->flush();
      if (!st.is_ok()) log_error("store", "final flush failed: " + st.to_string());
    }
    stop_queries();
    stop_sync();
  }
  http.reset();
  if (log) {
    Status st = log->flush();
    if (!st.is_ok()) log_error("store", "final flush failed: " + st.to_string());
  }
  log.reset();
  log_info("outpost", "stopped cleanly");
}

// Sources are matched to the running ones by kind and name. One whose settings and credential
// content are both unchanged keeps running untouched; one whose files cannot be used keeps
// running as it is (next's entry is put back to the running settings, so that the plan says
// what runs); the others are restarted, and a restart caused by content alone is logged as such.
void Daemon::Impl::reload_sources(Plan* next, std::vector<std::string>* applied, std::vector<std::string>* kept) {
  const std::size_t applied_before = applied->size();
  std::map<std::string, std::size_t, std::less<>> running;  // label -> index in sources
  for (std::size_t i = 0; i < sources.size(); ++i) running[sources[i].label] = i;
  const std::vector<SourceSpec> specs = source_specs(*next);
  std::vector<CredentialCheck> checks;
  std::vector<std::size_t> keep(specs.size(), sources.size());  // running slot kept; size() = none
  std::vector<bool> slot_kept(sources.size(), false);
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const SourceSpec& spec = specs[i];
    checks.push_back(check_source(*next, spec));
    const CredentialCheck& check = checks.back();
    auto it = running.find(spec.label);
    if (it == running.end()) {
      for (const auto& problem : check.problems) {
        log_warning("config", "reload: " + spec.label + ": " + problem + "; it cannot connect until the file is fixed");
      }
      applied->push_back(spec.label + " (started)");
      continue;
    }
    const SourceSlot& slot = sources[it->second];
    const bool settings_same = slot.settings == spec.settings;
    if (settings_same && slot.credentials.prints == check.prints) {
      keep[i] = it->second;
      slot_kept[it->second] = true;
      continue;
    }
    if (!check.usable() && spec.mqtt) {
      // Never drop a working connection for files that cannot work: the broker would refuse them,
      // or the client could not even load them. Paho reads the files on every connect, so only
      // the connection is kept: should it drop meanwhile, the reconnect reads them as they are.
      for (const auto& problem : check.problems) log_error("config", "reload: " + spec.label + ": " + problem);
      log_error("config", "reload: " + spec.label + " keeps its running connection" +
                              (settings_same ? "" : " and its current settings") +
                              "; fix the file and reload again (a reconnect before then reads the files as they are)");
      keep[i] = it->second;
      slot_kept[it->second] = true;
      const auto& name = next->mqtt_sources[spec.index].name;
      for (const auto& o : plan.mqtt_sources) {
        if (o.name == name) next->mqtt_sources[spec.index] = o;
      }
      if (auto c = plan.source_credentials.find(name); c != plan.source_credentials.end()) {
        next->source_credentials[name] = c->second;
      } else {
        next->source_credentials.erase(name);
      }
      kept->push_back(spec.label);
      continue;
    }
    if (settings_same) {
      log_info("config", "reload: " + spec.label + " reconnects: the content of " +
                             join(changed_credentials(slot.credentials, check)) + " changed");
      applied->push_back(spec.label + " (new certificate or credentials)");
    } else {
      applied->push_back(spec.label);
    }
  }
  for (const auto& [label, index] : running) {
    if (std::none_of(specs.begin(), specs.end(), [&](const SourceSpec& s) { return s.label == label; })) {
      applied->push_back(label + " (removed)");
    }
  }
  if (applied->size() == applied_before) return;  // every source kept

  // Everything not kept stops before anything starts: a restarted MQTT source connects with the
  // same client id, and the broker drops one of two connections that share an id.
  std::vector<SourceSlot> old = std::move(sources);
  sources.clear();
  for (std::size_t j = 0; j < old.size(); ++j) {
    if (!slot_kept[j]) old[j].source->stop();
  }
  for (std::size_t i = 0; i < specs.size(); ++i) {
    if (keep[i] < old.size()) {
      sources.push_back(std::move(old[keep[i]]));
      continue;
    }
    Status st = start_source(*next, specs[i], std::move(checks[i]));
    if (!st.is_ok()) log_error("config", "reload: " + specs[i].label + ": " + st.to_string());
  }
}

// Central's mirrors share one connection setting: they restart together when central's settings
// or its credential content changed, unless its files cannot be used, in which case they keep
// running as they are (and `next` is put back to the running settings). Returns whether to
// restart them.
bool Daemon::Impl::reload_sync(Plan* next, std::vector<std::string>* kept) {
  const bool settings_changed =
      next->sync_enabled != plan.sync_enabled || describe_sync(next->sync) != describe_sync(plan.sync);
  CredentialCheck check;
  if (next->sync_enabled) check = check_credentials(next->central_credentials, next->sync.central.sasl_password);
  const bool content_changed = sync && next->sync_enabled && check.prints != sync_credentials.prints;
  if (!settings_changed && !content_changed) return false;
  if (sync && next->sync_enabled && !check.usable()) {
    for (const auto& problem : check.problems) log_error("config", "reload: central: " + problem);
    // librdkafka loaded the files when the producers were made: the running mirrors keep them.
    log_error("config", std::string("reload: central mirrors keep running with the files they loaded") +
                            (settings_changed ? " and their current settings" : "") +
                            "; fix the file and reload again");
    next->sync_enabled = plan.sync_enabled;
    next->sync = plan.sync;
    next->central_credentials = plan.central_credentials;
    kept->push_back("central mirrors");
    return false;
  }
  if (!settings_changed) {
    log_info("config", "reload: central mirrors reconnect: the content of " +
                           join(changed_credentials(sync_credentials, check)) + " changed");
  }
  return true;
}

// SIGHUP: reload what can change safely while running (sources, queries, mirrors); say what
// needs a restart (storage, data dir, agent id, HTTP address, streams' decoding). Sources and
// mirrors are compared by their settings and by the content of their TLS and password files,
// so a certificate rotated in place is picked up.
void Daemon::Impl::reload() {
  notifier.reloading();
  auto loaded = loader();
  if (!loaded.is_ok()) {
    log_error("config", "reload rejected, keeping the running config:\n" + loaded.status().message());
    notifier.ready("reload rejected; running the previous config");
    return;
  }
  Plan next = std::move(loaded).value();
  std::vector<std::string> restart_needed;
  if (next.agent_id != plan.agent_id) restart_needed.push_back("agent.id");
  if (next.store.data_dir != plan.store.data_dir) restart_needed.push_back("agent.data_dir");
  if (next.http_listen != plan.http_listen) restart_needed.push_back("agent.http.listen");
  if (describe_store(next.store) != describe_store(plan.store)) restart_needed.push_back("storage");
  if (describe_streams(next.streams) != describe_streams(plan.streams)) restart_needed.push_back("streams");

  const bool queries_changed = describe_queries(next.queries) != describe_queries(plan.queries);
  std::vector<std::string> applied;
  std::vector<std::string> kept;  // parts whose new files cannot be used: left running as they are

  // Keep what needs a restart as it runs; apply the rest.
  next.agent_id = plan.agent_id;
  next.store = plan.store;
  next.http_listen = plan.http_listen;
  next.streams = plan.streams;
  {
    std::lock_guard<std::mutex> parts(snapshot_mu);
    const bool sync_changed = reload_sync(&next, &kept);
    reload_sources(&next, &applied, &kept);
    plan = std::move(next);

    if (queries_changed) {
      stop_queries();
      Status st = start_queries();
      if (!st.is_ok()) log_error("config", "reload: queries: " + st.to_string());
      applied.push_back("queries");
    }
    if (sync_changed) {
      stop_sync();
      Status st = start_sync();
      if (!st.is_ok()) log_error("config", "reload: central: " + st.to_string());
      applied.push_back("central mirrors");
    }
  }
  log_info("config", "reloaded: applied " + (applied.empty() ? std::string("nothing") : join(applied)) +
                         (kept.empty() ? "" : "; kept running as before (unusable files, see above): " + join(kept)) +
                         (restart_needed.empty() ? "" : "; needs a restart to take effect: " + join(restart_needed)));
  notifier.ready(kept.empty() ? "reloaded" : "reloaded; kept " + join(kept) + " as before (unusable files)");
}

void Daemon::Impl::on_tick() {
  const std::int64_t now = steady_ms();
  // The watchdog is fed only while the pipeline makes progress: a stream with appended but
  // not-yet-durable records whose durable sequence has not moved since the last tick means
  // the flusher is stuck (disk hung), and systemd should restart us.
  bool progressing = true;
  for (const auto& [name, rt] : streams) {
    std::uint64_t last = log->last_seq(rt->id);
    std::uint64_t durable = log->durable_seq(rt->id);
    auto& prev = last_progress[rt->id];
    // Records were pending at the previous tick and nothing became durable since.
    if (prev.first > prev.second && durable == prev.second) progressing = false;
    prev = {last, durable};
  }
  if (notifier.watchdog_usec() > 0 && progressing) notifier.watchdog();
  last_watchdog_ms = now;

  // The flusher has no logger: say here when group commits start or stop failing.
  if (log) {
    Status cs = log->last_commit_status();
    std::string err = cs.is_ok() ? std::string() : cs.message();
    if (err != last_commit_error) {
      if (!err.empty()) {
        log_error("store", "group commit failed: " + err + "; records wait in memory and are retried");
      } else {
        log_info("store", "group commits succeed again");
      }
      last_commit_error = std::move(err);
    }
  }

  // After a burst: what it grew (malloc'ed buffers, faulted-in ingest code) is given back once
  // nothing has arrived for a while; the next burst faults the code back in (minor faults).
  std::uint64_t ingested = 0;
  for (const auto& [name, rt] : streams) {
    ingested += rt->counters.records.load(std::memory_order_relaxed) +
                rt->counters.dead_letters.load(std::memory_order_relaxed);
  }
  if (ingested != last_ingested) {
    last_ingested = ingested;
    last_ingest_change_ms = now;
    released_since_ingest = false;
  } else if (!released_since_ingest && now - last_ingest_change_ms >= kQuietReleaseMs) {
    released_since_ingest = true;
    const ReleaseReport released = release_startup_memory();
    log_debug("outpost", "ingest quiet: released memory: RSS " + std::to_string(released.rss_before_kib) +
                             " KiB -> " + std::to_string(released.rss_after_kib) + " KiB");
  }
  if (now - last_heap_trim_ms >= kHeapTrimIntervalMs) {
    last_heap_trim_ms = now;
    trim_free_heap();
  }

  if (now - last_status_ms >= 5000) {
    StatusSnapshot s = snapshot();
    std::uint64_t records = 0;
    for (const auto& st : s.streams) records += st.records_appended;
    double secs = last_status_ms == 0 ? 0 : static_cast<double>(now - last_status_ms) / 1000.0;
    double rate = secs > 0 ? static_cast<double>(records - last_status_records) / secs : 0;
    last_status_ms = now;
    last_status_records = records;
    notifier.status(status_line(s, rate));
  }
  if (sync && now - last_mirror_check_ms >= 1000) {
    last_mirror_check_ms = now;
    log_mirror_changes(sync->metrics(), now);
  }
}

void Daemon::Impl::log_mirror_changes(const std::vector<sync::MirrorMetrics>& mirrors, std::int64_t now) {
  using sync::MirrorState;
  auto down = [](MirrorState st) { return st == MirrorState::kOffline || st == MirrorState::kBackingOff; };
  for (const auto& m : mirrors) {
    auto [it, fresh] = mirror_states.try_emplace(m.name, m.state, now);
    const MirrorState before = it->second.first;
    if (fresh || before == m.state) continue;
    const std::int64_t secs = (now - it->second.second) / 1000;
    it->second = {m.state, now};
    const std::string what = "mirror '" + m.name + "' (" + m.stream + " -> " + m.topic + "): ";
    const std::string backlog = std::to_string(m.backlog_records) + " records waiting in the local log";
    if (down(m.state) && !down(before)) {
      log_warning("sync", what + (m.state == MirrorState::kOffline ? "central unreachable" : "delivery failing") +
                              (m.last_error.empty() ? "" : " (" + m.last_error + ")") + "; " + backlog +
                              ", sent when it is back");
    } else if (m.state == MirrorState::kOnline && down(before)) {
      log_info("sync", what + "central reachable again after " + std::to_string(secs) + " s; catching up " + backlog);
    } else if (m.state == MirrorState::kFenced || m.state == MirrorState::kFailed) {
      log_error("sync", what + "stopped (" + sync::mirror_state_name(m.state) + ")" +
                            (m.last_error.empty() ? "" : ": " + m.last_error) + "; " + backlog);
    }
  }
}

StatusSnapshot Daemon::Impl::snapshot() const {
  std::lock_guard<std::mutex> lock(snapshot_mu);
  StatusSnapshot s;
  s.agent = plan.agent_id;
  s.uptime_s = static_cast<double>(steady_ms() - started_steady_ms) / 1000.0;
  s.started_ms = started_wall_ms;
  s.now_ms = now_ms();
  s.started_steady_ms = started_steady_ms;
  s.now_steady_ms = steady_ms();
  if (log) {
    for (const auto& [name, rt] : streams) {
      StreamSnapshot ss;
      ss.name = name;
      ss.dead_letter_stream = rt->plan.dead_letter_stream;
      ss.records_appended = rt->counters.records.load();
      ss.dead_letters = rt->counters.dead_letters.load();
      ss.decode_errors = rt->counters.decode_errors.load();
      for (std::size_t c = 0; c < decode::kErrorClassCount; ++c) {
        ss.decode_errors_by_class[c] = rt->counters.decode_errors_by_class[c].load();
      }
      ss.malformed = rt->counters.malformed.load();
      ss.append_errors = rt->counters.append_errors.load();
      ss.bytes_in = rt->counters.bytes.load();
      ss.last_append_ms = rt->counters.last_append_ms.load();
      auto stats = log->stats(rt->id);
      if (stats.is_ok()) ss.stats = stats.value();
      auto dead = log->stats(rt->dead_letter_id);
      if (dead.is_ok()) ss.dead_letter_records = dead.value().records;
      s.streams.push_back(std::move(ss));
    }
    // Streams not declared in the config (query results, late streams) too.
    std::set<std::string> seen;
    for (const auto& [name, rt] : streams) {
      seen.insert(name);
      seen.insert(rt->plan.dead_letter_stream);
    }
    for (const auto& name : log->stream_names()) {
      if (seen.count(name)) continue;
      auto id = log->find_stream(name);
      if (!id.is_ok()) continue;
      StreamSnapshot ss;
      ss.name = name;
      auto stats = log->stats(id.value());
      if (stats.is_ok()) ss.stats = stats.value();
      s.other_streams.push_back(std::move(ss));
    }
    s.stored_bytes = log->total_stored_bytes();
    if (Status cs = log->last_commit_status(); !cs.is_ok()) s.store_commit_error = cs.message();
    s.quota_bytes = plan.store.quota_bytes;
  }
  for (const auto& slot : sources) s.sources.push_back(slot.source->metrics());
  for (const auto& q : queries) s.queries.push_back(q->metrics());
  if (sync) s.mirrors = sync->metrics();
  s.process = http::read_process_stats();
  {
    std::lock_guard<std::mutex> l(const_cast<StoreHealth&>(store_health).mu);
    s.store_last_error = store_health.last_error;
  }
  s.store_last_error_ms = store_health.last_error_ms.load();
  s.store_last_ok_ms = store_health.last_ok_ms.load();
  s.health_plan = plan.health;
  return s;
}

std::string Daemon::Impl::metrics_text() const { return prometheus_text(snapshot()); }

http::Health Daemon::Impl::health() const {
  StatusSnapshot s = snapshot();
  HealthReport r = evaluate_health(s);
  return http::Health{r.healthy, health_json(r)};
}

Daemon::Daemon(Plan plan, PlanLoader reload)
    : impl_(std::make_unique<Impl>(std::move(plan), std::move(reload))) {}
Daemon::~Daemon() = default;

void Daemon::request_stop() {
  impl_->stopping.store(true);
  uv_async_send(&impl_->stop_async);
}

int Daemon::run() {
  Impl& d = *impl_;
  configure_allocator();  // before start() makes the first threads
  uv_loop_init(&d.loop);
  d.loop.data = &d;
  uv_async_init(&d.loop, &d.stop_async, [](uv_async_t* h) { uv_stop(h->loop); });
  auto on_stop_signal = [](uv_signal_t* h, int signum) {
    log_info("outpost", signum == SIGTERM ? "SIGTERM received" : "SIGINT received");
    static_cast<Impl*>(h->loop->data)->stopping.store(true);
    uv_stop(h->loop);
  };
  uv_signal_init(&d.loop, &d.sig_term);
  uv_signal_start(&d.sig_term, on_stop_signal, SIGTERM);
  uv_signal_init(&d.loop, &d.sig_int);
  uv_signal_start(&d.sig_int, on_stop_signal, SIGINT);
  uv_signal_init(&d.loop, &d.sig_hup);
  uv_signal_start(&d.sig_hup, [](uv_signal_t* h, int) {
    log_info("config", "SIGHUP received: reloading");
    static_cast<Impl*>(h->loop->data)->reload();
  }, SIGHUP);

  Status st = d.start();
  int rc = 0;
  if (!st.is_ok()) {
    log_error("outpost", "start-up failed: " + st.to_string());
    rc = 3;
  } else {
    std::ostringstream ready;
    ready << "running: " << d.streams.size() << " streams, " << d.sources.size() << " sources, "
          << d.queries.size() << " queries, " << (d.sync ? d.plan.sync.mirrors.size() : 0) << " mirrors";
    log_info("outpost", ready.str() + (d.http ? ", http on " + d.http->address() : ""));
    d.notifier.ready(ready.str());
    // What start-up touched (config parsing, OpenSSL's and SQLite's initialisation, recovery)
    // is not needed while the daemon idles: give it back now (memory.h).
    const ReleaseReport released = release_startup_memory();
    log_debug("outpost", "released start-up memory: RSS " + std::to_string(released.rss_before_kib) + " KiB -> " +
                             std::to_string(released.rss_after_kib) + " KiB");

    // Tick at half the watchdog interval (systemd's advice), at most once a second.
    std::uint64_t tick_ms = 1000;
    if (d.notifier.watchdog_usec() > 0) tick_ms = std::min<std::uint64_t>(1000, d.notifier.watchdog_usec() / 2000);
    if (tick_ms == 0) tick_ms = 1;
    uv_timer_init(&d.loop, &d.tick);
    uv_timer_start(&d.tick, [](uv_timer_t* h) { static_cast<Impl*>(h->loop->data)->on_tick(); }, 0, tick_ms);
    if (!d.stopping.load()) uv_run(&d.loop, UV_RUN_DEFAULT);
    uv_timer_stop(&d.tick);
  }
  d.shutdown();

  uv_signal_stop(&d.sig_term);
  uv_signal_stop(&d.sig_int);
  uv_signal_stop(&d.sig_hup);
  auto close_cb = [](uv_handle_t*) {};
  uv_close(reinterpret_cast<uv_handle_t*>(&d.sig_term), close_cb);
  uv_close(reinterpret_cast<uv_handle_t*>(&d.sig_int), close_cb);
  uv_close(reinterpret_cast<uv_handle_t*>(&d.sig_hup), close_cb);
  uv_close(reinterpret_cast<uv_handle_t*>(&d.stop_async), close_cb);
  if (uv_is_active(reinterpret_cast<uv_handle_t*>(&d.tick)) || d.tick.loop) {
    uv_close(reinterpret_cast<uv_handle_t*>(&d.tick), close_cb);
  }
  uv_run(&d.loop, UV_RUN_DEFAULT);
  uv_loop_close(&d.loop);
  return rc;
}

}  // namespace outpost::runtime
