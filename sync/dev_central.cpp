#include "sync/dev_central.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <sstream>
#include <vector>

namespace outpost::sync {
namespace {

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct MockDeleter {
  void operator()(rd_kafka_mock_cluster_t* m) const { rd_kafka_mock_cluster_destroy(m); }
};

struct ApiName {
  const char* name;
  int key;
};
// Kafka protocol ApiKeys the mock implements (rdkafka_mock_handlers.c).
constexpr ApiName kApis[] = {
    {"produce", 0},          {"fetch", 1},
    {"listoffsets", 2},      {"metadata", 3},
    {"offsetcommit", 8},     {"offsetfetch", 9},
    {"findcoordinator", 10}, {"joingroup", 11},
    {"heartbeat", 12},       {"leavegroup", 13},
    {"syncgroup", 14},       {"apiversions", 18},
    {"initproducerid", 22},  {"addpartitionstotxn", 24},
    {"addoffsetstotxn", 25}, {"endtxn", 26},
    {"txnoffsetcommit", 28},
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool parse_int(std::string_view s, int* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// Keeps the mock's own client handle quiet: its log lines are about itself, not the users.
void quiet_log(const rd_kafka_t*, int, const char*, const char*) {}

}  // namespace

struct DevCentral::Impl {
  std::unique_ptr<rd_kafka_t, KafkaDeleter> rk;
  // Declared after rk: destroyed first, while the handle it was created on still lives.
  std::unique_ptr<rd_kafka_mock_cluster_t, MockDeleter> cluster;
};

DevCentral::DevCentral(std::unique_ptr<Impl> impl, std::string bootstrap, int brokers)
    : impl_(std::move(impl)), bootstrap_(std::move(bootstrap)), brokers_(brokers) {}

DevCentral::~DevCentral() = default;

Result<std::unique_ptr<DevCentral>> DevCentral::start(int brokers) {
  if (brokers < 1 || brokers > 64) {
    return Status::invalid_argument("dev-central: --brokers must be between 1 and 64, got " +
                                    std::to_string(brokers));
  }
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set_log_cb(conf, quiet_log);
  // The handle only hosts the cluster; it never connects anywhere.
  if (rd_kafka_conf_set(conf, "bootstrap.servers", "", err, sizeof err) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    return Status::invalid_argument(std::string("dev-central: ") + err);
  }
  auto impl = std::make_unique<Impl>();
  impl->rk.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err));
  if (!impl->rk) {
    rd_kafka_conf_destroy(conf);
    return Status::io_error(std::string("dev-central: cannot create the host handle: ") + err);
  }
  impl->cluster.reset(rd_kafka_mock_cluster_new(impl->rk.get(), brokers));
  if (!impl->cluster) {
    return Status::io_error("dev-central: cannot start the mock cluster (no loopback listener?)");
  }
  std::string bootstrap = rd_kafka_mock_cluster_bootstraps(impl->cluster.get());
  return std::unique_ptr<DevCentral>(new DevCentral(std::move(impl), std::move(bootstrap), brokers));
}

Status DevCentral::check_broker(int broker) const {
  if (broker == -1 || (broker >= 1 && broker <= brokers_)) return Status::ok();
  return Status::invalid_argument("no broker " + std::to_string(broker) + " (brokers are 1.." +
                                  std::to_string(brokers_) + " or all)");
}

static Status from_err(rd_kafka_resp_err_t e, const std::string& what) {
  if (e == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::ok();
  return Status::invalid_argument(what + ": " + rd_kafka_err2str(e));
}

Status DevCentral::set_broker_down(int broker) {
  OUTPOST_RETURN_IF_ERROR(check_broker(broker));
  return from_err(rd_kafka_mock_broker_set_down(impl_->cluster.get(), broker), "down");
}

Status DevCentral::set_broker_up(int broker) {
  OUTPOST_RETURN_IF_ERROR(check_broker(broker));
  return from_err(rd_kafka_mock_broker_set_up(impl_->cluster.get(), broker), "up");
}

Status DevCentral::set_broker_rtt(int broker, int rtt_ms) {
  OUTPOST_RETURN_IF_ERROR(check_broker(broker));
  if (rtt_ms < 0) return Status::invalid_argument("rtt must be >= 0 ms");
  return from_err(rd_kafka_mock_broker_set_rtt(impl_->cluster.get(), broker, rtt_ms), "rtt");
}

Status DevCentral::create_topic(std::string_view topic, int partitions, int replication_factor) {
  if (topic.empty()) return Status::invalid_argument("create: empty topic name");
  if (partitions < 1) return Status::invalid_argument("create: partitions must be >= 1");
  if (replication_factor < 1 || replication_factor > brokers_) {
    return Status::invalid_argument("create: replication factor must be 1.." +
                                    std::to_string(brokers_));
  }
  std::string t(topic);
  return from_err(rd_kafka_mock_topic_create(impl_->cluster.get(), t.c_str(), partitions,
                                             replication_factor),
                  "create " + t);
}

Status DevCentral::set_partition_leader(std::string_view topic, int partition, int broker) {
  OUTPOST_RETURN_IF_ERROR(check_broker(broker));
  std::string t(topic);
  return from_err(rd_kafka_mock_partition_set_leader(impl_->cluster.get(), t.c_str(), partition,
                                                     broker),
                  "leader");
}

// What push_request_errors and push_broker_request_errors accept.
static Status check_error_push(int api_key, int count, int max_count) {
  if (api_key < 0) return Status::invalid_argument("unknown api");
  if (count < 1 || count > max_count) {
    return Status::invalid_argument("count must be 1.." + std::to_string(max_count));
  }
  return Status::ok();
}

Status DevCentral::push_request_errors(int api_key, int error, int count) {
  OUTPOST_RETURN_IF_ERROR(check_error_push(api_key, count, 1000000));
  std::vector<rd_kafka_resp_err_t> errs(static_cast<std::size_t>(count),
                                        static_cast<rd_kafka_resp_err_t>(error));
  rd_kafka_mock_push_request_errors_array(impl_->cluster.get(), static_cast<int16_t>(api_key),
                                          errs.size(), errs.data());
  return Status::ok();
}

Status DevCentral::push_broker_request_errors(int broker, int api_key, int error, int count) {
  if (broker == -1) return Status::invalid_argument("broker errors: name one broker, not all");
  OUTPOST_RETURN_IF_ERROR(check_broker(broker));
  OUTPOST_RETURN_IF_ERROR(check_error_push(api_key, count, 1000));  // one mock call per error
  for (int i = 0; i < count; ++i) {  // each call appends (error, rtt 0) to the broker's stack
    OUTPOST_RETURN_IF_ERROR(from_err(rd_kafka_mock_broker_push_request_error_rtts(
        impl_->cluster.get(), broker, static_cast<int16_t>(api_key), 1, static_cast<rd_kafka_resp_err_t>(error), 0),
        "error"));
  }
  return Status::ok();
}

void DevCentral::clear_request_errors(int api_key) {
  rd_kafka_mock_clear_request_errors(impl_->cluster.get(), static_cast<int16_t>(api_key));
}

int DevCentral::parse_api_key(std::string_view name) {
  int n = 0;
  if (parse_int(name, &n)) return n >= 0 && n < 100 ? n : -1;
  std::string l = lower(name);
  for (const auto& a : kApis) {
    if (l == a.name) return a.key;
  }
  return -1;
}

int DevCentral::parse_error_code(std::string_view name, bool* ok) {
  *ok = true;
  int n = 0;
  if (parse_int(name, &n)) return n;
  std::string want(name);
  for (char& c : want) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (want.rfind("RD_KAFKA_RESP_ERR_", 0) == 0) want = want.substr(18);
  if (want.rfind("ERR_", 0) == 0) want = want.substr(4);
  const rd_kafka_err_desc* descs = nullptr;
  size_t cnt = 0;
  rd_kafka_get_err_descs(&descs, &cnt);
  for (size_t i = 0; i < cnt; ++i) {
    if (descs[i].name && want == descs[i].name) return descs[i].code;
  }
  *ok = false;
  return 0;
}

std::string DevCentral::execute(std::string_view line, bool* quit) {
  std::istringstream in{std::string(line)};
  std::vector<std::string> w;
  for (std::string t; in >> t;) w.push_back(t);
  if (w.empty() || w[0][0] == '#') return "";
  const std::string cmd = lower(w[0]);
  auto broker_arg = [&](const std::string& s, int* out) {
    if (lower(s) == "all") {
      *out = -1;
      return true;
    }
    return parse_int(s, out);
  };
  auto answer = [](const Status& st, const std::string& ok_text) {
    return st.is_ok() ? "ok " + ok_text : "error: " + st.message();
  };
  int b = 0;
  if ((cmd == "down" || cmd == "up") && w.size() == 2 && broker_arg(w[1], &b)) {
    Status st = cmd == "down" ? set_broker_down(b) : set_broker_up(b);
    return answer(st, cmd + " " + w[1]);
  }
  if (cmd == "rtt" && w.size() == 3 && broker_arg(w[1], &b)) {
    int ms = 0;
    if (!parse_int(w[2], &ms)) return "error: rtt: '" + w[2] + "' is not a number of ms";
    return answer(set_broker_rtt(b, ms), "rtt " + w[1] + " " + w[2]);
  }
  if (cmd == "error" && (w.size() == 3 || w.size() == 4)) {
    int api = parse_api_key(w[1]);
    if (api < 0) return "error: unknown api '" + w[1] + "' (try produce, endtxn, ... or a number)";
    bool ok = false;
    int code = parse_error_code(w[2], &ok);
    if (!ok) return "error: unknown error code '" + w[2] + "' (e.g. NOT_LEADER_FOR_PARTITION)";
    int count = 1;
    if (w.size() == 4 && !parse_int(w[3], &count)) return "error: bad count '" + w[3] + "'";
    return answer(push_request_errors(api, code, count),
                  "error " + w[1] + " " + rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(code)) +
                      " x" + std::to_string(count));
  }
  if (cmd == "clear" && w.size() == 2) {
    int api = parse_api_key(w[1]);
    if (api < 0) return "error: unknown api '" + w[1] + "'";
    clear_request_errors(api);
    return "ok clear " + w[1];
  }
  if (cmd == "create" && w.size() >= 2 && w.size() <= 4) {
    int parts = 1, rf = 1;
    if (w.size() >= 3 && !parse_int(w[2], &parts)) return "error: bad partition count";
    if (w.size() == 4 && !parse_int(w[3], &rf)) return "error: bad replication factor";
    return answer(create_topic(w[1], parts, rf), "create " + w[1]);
  }
  if (cmd == "leader" && w.size() == 4) {
    int part = 0;
    if (!parse_int(w[2], &part) || !parse_int(w[3], &b)) return "error: leader <topic> <partition> <broker>";
    return answer(set_partition_leader(w[1], part, b), "leader " + w[1]);
  }
  if (cmd == "quit" || cmd == "exit") {
    *quit = true;
    return "ok bye";
  }
  if (cmd == "bootstrap") return "ok bootstrap=" + bootstrap_;
  if (cmd == "help") {
    return "ok commands: down <broker|all> | up <broker|all> | rtt <broker|all> <ms> | "
           "error <api> <errcode> [count] | clear <api> | create <topic> [partitions] "
           "[replication] | leader <topic> <partition> <broker> | bootstrap | quit";
  }
  return "error: cannot parse '" + std::string(line) + "' (try help)";
}

}  // namespace outpost::sync
