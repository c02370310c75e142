// Test helper: reads a whole topic back with a plain librdkafka consumer (assign from the
// beginning, stop at end of every partition).
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace outpost::testing {

struct KafkaRecord {
  int partition = 0;
  std::int64_t offset = 0;
  bool has_key = false;
  std::string key;
  std::string value;
  std::map<std::string, std::string> headers;
};

// Returns false on timeout.
inline bool read_topic(const std::string& bootstrap, const std::string& topic,
                       std::vector<KafkaRecord>* out, int timeout_ms = 15000) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "group.id", "test-reader", err, sizeof err);
  rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof err);
  rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
  rd_kafka_conf_set(conf, "isolation.level", "read_committed", err, sizeof err);
  rd_kafka_conf_set_log_cb(conf, [](const rd_kafka_t*, int, const char*, const char*) {});
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!rk) return false;
  rd_kafka_topic_t* t = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  bool ok = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  if (rd_kafka_metadata(rk, 0, t, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 &&
      md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    int n = md->topics[0].partition_cnt;
    auto* parts = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; ++i) {
      rd_kafka_topic_partition_list_add(parts, topic.c_str(), i)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    std::set<int> eof;
    while (static_cast<int>(eof.size()) < n && std::chrono::steady_clock::now() < deadline) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
      if (!m) continue;
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        eof.insert(m->partition);
      } else if (!m->err) {
        KafkaRecord r;
        r.partition = m->partition;
        r.offset = m->offset;
        r.has_key = m->key != nullptr;
        if (m->key) r.key.assign(static_cast<const char*>(m->key), m->key_len);
        if (m->payload) r.value.assign(static_cast<const char*>(m->payload), m->len);
        rd_kafka_headers_t* hdrs = nullptr;
        if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
          const char* name;
          const void* val;
          size_t size;
          for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == 0; ++i) {
            r.headers[name] = std::string(static_cast<const char*>(val), size);
          }
        }
        out->push_back(std::move(r));
      }
      rd_kafka_message_destroy(m);
    }
    ok = static_cast<int>(eof.size()) == n;
    rd_kafka_consumer_close(rk);
  }
  if (md) rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(t);
  rd_kafka_destroy(rk);
  return ok;
}

}  // namespace outpost::testing
