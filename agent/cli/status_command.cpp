// `outpost status`: what the running daemon is doing, from its HTTP API (/v1/status).
#include <CLI/CLI.hpp>
#include <httplib.h>
#include <simdjson.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "agent/cli/cli.h"

namespace outpost::cli {
namespace {

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) { b /= 1024; ++u; }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
  return buf;
}

std::string age(std::int64_t now_ms, std::int64_t then_ms) {
  if (then_ms <= 0) return "never";
  std::int64_t s = (now_ms - then_ms) / 1000;
  if (s < 0) s = 0;
  if (s < 120) return std::to_string(s) + "s ago";
  if (s < 7200) return std::to_string(s / 60) + "m ago";
  if (s < 172800) return std::to_string(s / 3600) + "h ago";
  return std::to_string(s / 86400) + "d ago";
}

int print_status(const std::string& body, bool as_json) {
  if (as_json) {
    std::cout << body << "\n";
    return 0;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body).get(doc)) {
    std::cerr << "outpost status: the daemon's /v1/status answer is not JSON\n";
    return 3;
  }
  auto str = [](simdjson::dom::element e, const char* k) {
    std::string_view v;
    return e[k].get(v) ? std::string() : std::string(v);
  };
  auto num = [](simdjson::dom::element e, const char* k) {
    double d = 0;
    if (e[k].get(d)) {
      std::int64_t i = 0;
      std::uint64_t u = 0;
      if (!e[k].get(i)) return static_cast<double>(i);
      if (!e[k].get(u)) return static_cast<double>(u);
    }
    return d;
  };
  bool healthy = false;
  if (doc["healthy"].get(healthy)) healthy = false;
  std::int64_t now = static_cast<std::int64_t>(num(doc, "now_ms"));
  std::printf("agent %s: %s, up %.0fs, %s stored", str(doc, "agent").c_str(), healthy ? "healthy" : "UNHEALTHY",
              num(doc, "uptime_s"), human_bytes(num(doc, "stored_bytes")).c_str());
  double quota = num(doc, "quota_bytes");
  if (quota > 0) std::printf(" of %s quota", human_bytes(quota).c_str());
  simdjson::dom::element proc;
  if (!doc["process"].get(proc)) std::printf(", RSS %s", human_bytes(num(proc, "rss_bytes")).c_str());
  std::printf("\n");

  simdjson::dom::object checks;
  if (!doc["health"]["checks"].get(checks)) {
    for (auto [part, check] : checks) {
      bool ok = true;
      if (check["healthy"].get(ok)) ok = true;
      if (!ok) std::printf("  ! %s: %s\n", std::string(part).c_str(), str(check, "detail").c_str());
    }
  }
  simdjson::dom::array arr;
  if (!doc["sources"].get(arr) && arr.size() > 0) {
    std::printf("\nsources\n");
    for (auto s : arr) {
      std::printf("  %-20s %-7s %-13s received %-10.0f last message %s\n", str(s, "name").c_str(),
                  str(s, "kind").c_str(), str(s, "state").c_str(), num(s, "received"),
                  age(now, static_cast<std::int64_t>(num(s, "last_message_ms"))).c_str());
    }
  }
  if (!doc["streams"].get(arr) && arr.size() > 0) {
    std::printf("\nstreams\n");
    for (auto s : arr) {
      std::printf("  %-24s records %-10.0f last seq %-10.0f stored %-10s", str(s, "name").c_str(), num(s, "records"),
                  num(s, "last_seq"), human_bytes(num(s, "stored_bytes")).c_str());
      double dead = num(s, "dead_letter_records");
      if (dead > 0) std::printf(" dead letters %.0f", dead);
      simdjson::dom::array dropped;
      if (!s["dropped"].get(dropped) && dropped.size() > 0) std::printf(" DROPPED ranges %zu", dropped.size());
      std::printf("\n");
    }
  }
  if (!doc["queries"].get(arr) && arr.size() > 0) {
    std::printf("\nqueries\n");
    for (auto q : arr) {
      std::printf("  %-20s %-11s lag %-8.0f rows %-8.0f late %.0f (dropped %.0f)\n", str(q, "name").c_str(),
                  str(q, "state").c_str(), num(q, "lag_records"), num(q, "rows_emitted"), num(q, "late_events"),
                  num(q, "late_dropped"));
    }
  }
  if (!doc["mirrors"].get(arr) && arr.size() > 0) {
    std::printf("\nmirrors to central\n");
    for (auto m : arr) {
      std::printf("  %-20s %-12s %-13s backlog %-9.0f cursor %-9.0f %6.0f rec/s  last success %s\n",
                  str(m, "name").c_str(), str(m, "state").c_str(), str(m, "delivery").c_str(),
                  num(m, "backlog_records"), num(m, "cursor"), num(m, "records_per_s"),
                  age(now, static_cast<std::int64_t>(num(m, "last_success_ms"))).c_str());
      std::string err = str(m, "last_error");
      if (!err.empty() && str(m, "state") != "online") std::printf("      last error: %s\n", err.c_str());
    }
  }
  return healthy ? 0 : 1;
}

}  // namespace

void add_status_command(CLI::App& app, int* exit_code) {
  auto address = std::make_shared<std::string>("127.0.0.1:8470");
  auto as_json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("status", "Show what the running daemon is doing (exit 1 when unhealthy)");
  cmd->add_option("--http", *address, "The daemon's HTTP address (agent.http.listen)")->capture_default_str();
  cmd->add_flag("--json", *as_json, "Print the raw /v1/status JSON");
  cmd->callback([address, as_json, exit_code] {
    std::string host = *address;
    int port = 8470;
    auto colon = host.rfind(':');
    if (colon != std::string::npos) {
      try {
        port = std::stoi(host.substr(colon + 1));
      } catch (const std::exception&) {
        std::cerr << "outpost status: --http '" << *address << "' must be host:port\n";
        *exit_code = 2;
        return;
      }
      host = host.substr(0, colon);
    }
    httplib::Client client(host, port);
    client.set_connection_timeout(3, 0);
    client.set_read_timeout(10, 0);
    auto res = client.Get("/v1/status");
    if (!res) {
      std::cerr << "outpost status: no answer from the daemon at " << *address << " ("
                << httplib::to_string(res.error()) << "); is `outpost run` running, and is agent.http.listen "
                << *address << "?\n";
      *exit_code = 3;
      return;
    }
    if (res->status != 200) {
      std::cerr << "outpost status: " << *address << " answered HTTP " << res->status << "\n";
      *exit_code = 3;
      return;
    }
    *exit_code = print_status(res->body, *as_json);
  });
}

}  // namespace outpost::cli
