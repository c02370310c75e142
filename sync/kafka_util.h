// Internal to sync/: RAII for librdkafka handles and the configuration shared by the
// producers and the cursor reader. Not part of the public API.
#pragma once

#include "base/json_string.h"

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "sync/sync.h"

namespace outpost::sync::detail {

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct TopicDeleter {
  void operator()(rd_kafka_topic_t* t) const { rd_kafka_topic_destroy(t); }
};
struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
struct ErrorDeleter {
  void operator()(rd_kafka_error_t* e) const { rd_kafka_error_destroy(e); }
};
struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* m) const { rd_kafka_metadata_destroy(m); }
};
using KafkaPtr = std::unique_ptr<rd_kafka_t, KafkaDeleter>;
using TopicPtr = std::unique_ptr<rd_kafka_topic_t, TopicDeleter>;
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using ErrorPtr = std::unique_ptr<rd_kafka_error_t, ErrorDeleter>;
using MetadataPtr = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;

// Sets one property; the error names the property and librdkafka's reason.
Status conf_set(rd_kafka_conf_t* conf, const std::string& name, const std::string& value);

// A configuration holding the connection settings (brokers, security, TLS, SASL), then
// `ours` (name, value) in order, then the user's extra properties (which win).
Result<ConfPtr> make_conf(const CentralSettings& central,
                          const std::vector<std::pair<std::string, std::string>>& ours);

using base::json_quote;  // base/json_string.h: invalid UTF-8 becomes U+FFFD

std::int64_t wall_ms();
std::int64_t mono_ms();

}  // namespace outpost::sync::detail
