#include "agent/http/server.h"

#include <httplib.h>

#include <thread>

namespace outpost::http {
namespace {

std::string json_error(const std::string& message) {
  std::string out = "{\"error\":\"";
  for (unsigned char c : message) {
    if (c == '"' || c == '\\') { out += '\\'; out += static_cast<char>(c); }
    else if (c < 0x20) { char buf[8]; std::snprintf(buf, sizeof buf, "\\u%04x", c); out += buf; }
    else out += static_cast<char>(c);
  }
  return out + "\"}";
}

constexpr std::size_t kWorkerThreads = 3;

class HttplibServer final : public Server {
 public:
  HttplibServer(std::string host, Handlers handlers) : host_(std::move(host)), handlers_(std::move(handlers)) {
    // httplib's default pool is max(8, cores - 1) threads, each with its own stack; the API
    // serves a scraper, `outpost status` and the odd curl, so three workers are plenty (a
    // keep-alive connection holds one for at most keep_alive_timeout).
    server_.new_task_queue = [] { return new httplib::ThreadPool(kWorkerThreads); };
    server_.set_keep_alive_max_count(16);
    server_.set_read_timeout(5, 0);
    server_.set_write_timeout(5, 0);
    server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(handlers_.metrics ? handlers_.metrics() : std::string(),
                      "text/plain; version=0.0.4; charset=utf-8");
    });
    server_.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
      Health h = handlers_.health ? handlers_.health() : Health{true, "{\"status\":\"ok\"}"};
      res.status = h.healthy ? 200 : 503;
      res.set_content(h.json, "application/json");
    });
    server_.Get("/v1/streams", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(handlers_.streams ? handlers_.streams() : "[]", "application/json");
    });
    server_.Get("/v1/status", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(handlers_.status ? handlers_.status() : "{}", "application/json");
    });
    server_.Get("/v1/query", [this](const httplib::Request& req, httplib::Response& res) {
      if (!req.has_param("sql")) {
        res.status = 400;
        res.set_content(json_error("missing query parameter 'sql'"), "application/json");
        return;
      }
      if (!handlers_.query) {
        res.status = 501;
        res.set_content(json_error("queries are not available in this build"), "application/json");
        return;
      }
      Result<std::string> rows = handlers_.query(req.get_param_value("sql"));
      if (!rows.is_ok()) {
        res.status = 400;
        res.set_content(json_error(rows.status().message()), "application/json");
        return;
      }
      res.set_content(rows.value(), "application/json");
    });
    server_.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "internal error";
      try { if (ep) std::rethrow_exception(ep); } catch (const std::exception& e) { what = e.what(); } catch (...) {}
      res.status = 500;
      res.set_content(json_error(what), "application/json");
    });
  }

  ~HttplibServer() override {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }

  Status listen(int port) {
    if (port == 0) {
      port_ = server_.bind_to_any_port(host_.c_str());
    } else {
      port_ = server_.bind_to_port(host_.c_str(), port) ? port : -1;
    }
    if (port_ < 0) {
      return Status::io_error("cannot listen on " + host_ + ":" + std::to_string(port) +
                              " (address in use or not available)");
    }
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    return Status::ok();
  }

  int port() const override { return port_; }
  std::string address() const override { return host_ + ":" + std::to_string(port_); }

 private:
  std::string host_;
  Handlers handlers_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = -1;
};

}  // namespace

Result<std::unique_ptr<Server>> Server::start(const std::string& listen, Handlers handlers) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return Status::invalid_argument("http listen address '" + listen + "' must be host:port");
  }
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = 0;
  try {
    std::size_t used = 0;
    port = std::stoi(listen.substr(colon + 1), &used);
    if (used != listen.size() - colon - 1 || port < 0 || port > 65535) throw std::out_of_range("port");
  } catch (const std::exception&) {
    return Status::invalid_argument("http listen address '" + listen + "': port must be 0..65535");
  }
  auto server = std::make_unique<HttplibServer>(host, std::move(handlers));
  OUTPOST_RETURN_IF_ERROR(server->listen(port));
  return std::unique_ptr<Server>(std::move(server));
}

}  // namespace outpost::http
