// A local stand-in for the central Kafka cluster: librdkafka's mock cluster on loopback.
//
// Used by `outpost dev-central`, the sync tests and the benchmark. The mock speaks the Kafka
// protocol over TCP (produce, idempotent and transactional producers, fetch, metadata, topic
// auto-creation), so any client (kcat, python-kafka, another outpost) can talk to it.
//
// Limits of the mock (librdkafka 2.0.2) that a user of it must know:
//  - brokers listen on 127.0.0.1 with ephemeral ports chosen by the kernel; there is no way
//    to pick a port, so bootstrap() must be read after start.
//  - transactions are accepted (InitProducerId, AddPartitionsToTxn, EndTxn, fencing by epoch),
//    but no commit/abort markers are written: a read_committed consumer also sees records of
//    aborted transactions, and the last stable offset is the high watermark.
//  - no compaction and no CreateTopics API; topics are created on first metadata request
//    (4 partitions) or explicitly with create_topic().
//  - sequence numbers are checked only for transactional producers: a request of an
//    idempotent producer that a real broker would refuse as out of sequence (it follows a
//    refused one) is written.
//
// Threads: the mock runs on its own threads inside librdkafka. All methods of DevCentral may
// be called from any one thread at a time (the CLI calls them from its command loop).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"

namespace outpost::sync {

class DevCentral {
 public:
  // Starts a mock cluster with `brokers` brokers (ids 1..brokers).
  static Result<std::unique_ptr<DevCentral>> start(int brokers);
  ~DevCentral();
  DevCentral(const DevCentral&) = delete;
  DevCentral& operator=(const DevCentral&) = delete;

  // "127.0.0.1:PORT,127.0.0.1:PORT2,..."
  const std::string& bootstrap() const { return bootstrap_; }
  int brokers() const { return brokers_; }

  // broker: 1..brokers(), or -1 for all.
  Status set_broker_down(int broker);
  Status set_broker_up(int broker);
  Status set_broker_rtt(int broker, int rtt_ms);
  Status create_topic(std::string_view topic, int partitions, int replication_factor);
  Status set_partition_leader(std::string_view topic, int partition, int broker);
  // The next `count` requests of `api_key` (Kafka protocol ApiKey, e.g. 0 = Produce) fail with
  // `error` (an rd_kafka_resp_err_t value).
  Status push_request_errors(int api_key, int error, int count);
  void clear_request_errors(int api_key);
  // The same for one broker (1..brokers()). A broker's errors come before the cluster's: while
  // it has any for api_key, the cluster's wait. Pushing one here and then clearing the
  // cluster's switches from one error to another with no request slipping through between.
  Status push_broker_request_errors(int broker, int api_key, int error, int count);

  // Executes one text command and returns a one-line answer ("ok ..." or "error: ...").
  // Grammar (also printed by `help`):
  //   down <broker|all> | up <broker|all> | rtt <broker|all> <ms>
  //   error <api> <errcode> [count]  (api: produce|fetch|metadata|initproducerid|
  //          addpartitionstotxn|endtxn|findcoordinator|... or a number; errcode: a Kafka error
  //          name like NOT_LEADER_FOR_PARTITION / REQUEST_TIMED_OUT / _TRANSPORT, or a number)
  //   clear <api> | create <topic> [partitions] [replication] | leader <topic> <part> <broker>
  //   help | quit
  // Sets *quit when the command asks the server to stop.
  std::string execute(std::string_view line, bool* quit);

  // Parses an api name or number; -1 if unknown.
  static int parse_api_key(std::string_view name);
  // Parses an error name (with or without ERR_ prefix, case-insensitive) or number; sets
  // *ok=false if unknown.
  static int parse_error_code(std::string_view name, bool* ok);

 private:
  struct Impl;
  explicit DevCentral(std::unique_ptr<Impl> impl, std::string bootstrap, int brokers);
  Status check_broker(int broker) const;
  std::unique_ptr<Impl> impl_;
  std::string bootstrap_;
  int brokers_ = 0;
};

}  // namespace outpost::sync
