#include "sync/kafka_util.h"

#include <chrono>
#include <cstdio>

namespace outpost::sync::detail {

Status conf_set(rd_kafka_conf_t* conf, const std::string& name, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    return Status::invalid_argument("kafka property '" + name + "': " + err);
  }
  return Status::ok();
}

Result<ConfPtr> make_conf(const CentralSettings& central,
                          const std::vector<std::pair<std::string, std::string>>& ours) {
  ConfPtr conf(rd_kafka_conf_new());
  std::vector<std::pair<std::string, std::string>> props;
  props.emplace_back("bootstrap.servers", central.brokers);
  if (!central.security_protocol.empty()) {
    props.emplace_back("security.protocol", central.security_protocol);
  }
  if (!central.sasl_mechanism.empty()) props.emplace_back("sasl.mechanism", central.sasl_mechanism);
  if (!central.sasl_username.empty()) props.emplace_back("sasl.username", central.sasl_username);
  if (!central.sasl_password.empty()) props.emplace_back("sasl.password", central.sasl_password);
  if (!central.tls_ca_file.empty()) props.emplace_back("ssl.ca.location", central.tls_ca_file);
  if (!central.tls_cert_file.empty()) {
    props.emplace_back("ssl.certificate.location", central.tls_cert_file);
  }
  if (!central.tls_key_file.empty()) props.emplace_back("ssl.key.location", central.tls_key_file);
  for (const auto& p : ours) props.push_back(p);
  for (const auto& p : central.properties) props.push_back(p);
  for (const auto& [name, value] : props) {
    OUTPOST_RETURN_IF_ERROR(conf_set(conf.get(), name, value));
  }
  return conf;
}

std::int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::int64_t mono_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace outpost::sync::detail
