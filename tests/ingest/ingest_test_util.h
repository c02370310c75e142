// Helpers for the ingest integration tests: temp dirs, free loopback ports, child processes
// killed by PID, a real mosquitto broker, a Paho publisher, a store-backed sink that a test can
// make refuse (disk-full style), and reading a stream back from the store.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <mqtt/async_client.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agent/ingest/log_sink.h"
#include "agent/ingest/source.h"
#include "store/log.h"

namespace ingest_test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Polls pred every 10 ms until it holds or timeout passes.
inline bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "outpost-ingest-XXXXXX").string();
    char* p = ::mkdtemp(tmpl.data());
    if (p == nullptr) std::abort();
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

inline bool port_accepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// A child process; killed (SIGKILL) and reaped by the destructor if still running.
class Child {
 public:
  Child() = default;
  Child(const std::vector<std::string>& argv, const fs::path& output, const fs::path& input = {}) {
    start(argv, output, input);
  }
  ~Child() { kill(SIGKILL); }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  void start(const std::vector<std::string>& argv, const fs::path& output, const fs::path& input = {}) {
    pid_ = ::fork();
    if (pid_ == 0) {
      if (!input.empty()) {
        int in = ::open(input.c_str(), O_RDONLY);
        if (in >= 0) ::dup2(in, 0);
      }
      int fd = ::open(output.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
  }
  pid_t pid() const { return pid_; }
  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      exit_status_ = status;
      return false;
    }
    return true;
  }
  // Sends sig and waits (up to 10 s, then SIGKILL) for the process to end.
  void kill(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    if (!wait_until([&] { return !running(); }, 10s)) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &exit_status_, 0);
      pid_ = -1;
    }
  }
  int exit_status() const { return exit_status_; }

 private:
  pid_t pid_ = -1;
  int exit_status_ = 0;
};

inline std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A real mosquitto on 127.0.0.1:<free port> with persistence in a temp dir, so a restarted
// broker keeps sessions and queued QoS 1/2 messages.
class Mosquitto {
 public:
  // extra_conf: more listener lines (TLS). The listener line itself is written here.
  explicit Mosquitto(std::string extra_conf = {}) : port_(free_port()), extra_(std::move(extra_conf)) {
    start();
  }
  ~Mosquitto() { proc_.kill(SIGKILL); }

  void start() {
    const fs::path conf = dir_.path() / "mosquitto.conf";
    std::ofstream c(conf);
    c << "listener " << port_ << " 127.0.0.1\n"
      << "allow_anonymous true\n"
      << "persistence true\n"
      << "persistence_location " << (dir_.path() / "").string() << "\n"
      << "autosave_interval 1\n"
      << "max_queued_messages 100000\n"
      // As root, mosquitto would drop to user 'mosquitto', who cannot read our 0700 temp dirs.
      << (::geteuid() == 0 ? "user root\n" : "")
      << extra_;
    c.close();
    proc_.start({"mosquitto", "-c", conf.string()}, dir_.path() / "mosquitto.log");
    if (!wait_until([&] { return port_accepts(port_); }, 10s))
      throw std::runtime_error("mosquitto did not start: " + read_file(dir_.path() / "mosquitto.log"));
  }
  // SIGTERM: mosquitto writes its persistence file and exits.
  void stop() {
    proc_.kill(SIGTERM);
    wait_until([&] { return !port_accepts(port_); }, 5s);
  }
  int port() const { return port_; }
  std::string uri(const char* scheme = "tcp") const {
    return std::string(scheme) + "://127.0.0.1:" + std::to_string(port_);
  }
  std::string log() const { return read_file(dir_.path() / "mosquitto.log"); }

 private:
  TempDir dir_;
  int port_;
  std::string extra_;
  Child proc_;
};

// Publishes with Paho; publish() waits until the broker acknowledged (QoS 1/2).
class Publisher {
 public:
  explicit Publisher(const std::string& uri, std::string id = "outpost-test-pub")
      : client_(uri, id, nullptr) {
    mqtt::connect_options o;
    o.set_clean_session(true);
    o.set_automatic_reconnect(std::chrono::milliseconds(50), std::chrono::milliseconds(500));
    o.set_max_inflight(1000);
    client_.connect(o)->wait();
  }
  ~Publisher() {
    try {
      client_.disconnect()->wait_for(2000);
    } catch (...) {
    }
  }
  void publish(const std::string& topic, const std::string& payload, int qos, bool retained = false) {
    client_.publish(topic, payload.data(), payload.size(), qos, retained)->wait();
  }
  // Publishes without waiting; returns the token.
  mqtt::delivery_token_ptr publish_async(const std::string& topic, const std::string& payload, int qos) {
    return client_.publish(topic, payload.data(), payload.size(), qos, false);
  }
  // Publishes prefix<from>..prefix<to-1> in order with at most 100 in flight, waits for all.
  void publish_many(const std::string& topic, const std::string& prefix, int from, int to, int qos) {
    std::vector<mqtt::delivery_token_ptr> toks;
    for (int i = from; i < to; ++i) {
      toks.push_back(publish_async(topic, prefix + std::to_string(i), qos));
      if (toks.size() >= 100) {
        for (auto& t : toks) t->wait();
        toks.clear();
      }
    }
    for (auto& t : toks) t->wait();
  }
  bool connected() { return client_.is_connected(); }

 private:
  mqtt::async_client client_;
};

// Publishes lines prefix<from>..prefix<to-1> with mosquitto_pub in a separate process and waits
// for it to finish. Needed where this process's Paho clients are blocked: Paho C runs one
// receive thread and one lock for all clients of a process, so a source's stalled callback
// blocks an in-process publisher too.
inline bool cli_publish(int port, const std::string& topic, const std::string& prefix, int from, int to, int qos) {
  TempDir dir;
  {
    std::ofstream f(dir.path() / "lines");
    for (int i = from; i < to; ++i) f << prefix << i << "\n";
  }
  Child pub({"mosquitto_pub", "-h", "127.0.0.1", "-p", std::to_string(port), "-t", topic, "-q",
             std::to_string(qos), "-l", "-i", "outpost-test-cli-pub"},
            dir.path() / "out", dir.path() / "lines");
  if (!wait_until([&] { return !pub.running(); }, 20s)) return false;
  return WIFEXITED(pub.exit_status()) && WEXITSTATUS(pub.exit_status()) == 0;
}

// A store in a temp dir.
struct TestLog {
  TempDir dir;
  std::unique_ptr<outpost::store::Log> log;
  TestLog() { reopen(); }
  void reopen() {
    log.reset();
    outpost::store::Options o;
    o.data_dir = dir.path() / "data";
    o.flush_interval_ms = 20;
    auto r = outpost::store::Log::open(o);
    if (!r.is_ok()) throw std::runtime_error("store open: " + r.status().to_string());
    log = std::move(r).value();
  }
};

struct StoredRecord {
  std::string key;
  std::string payload;
};

// All records of a stream (after a flush, so everything appended is visible).
inline std::vector<StoredRecord> read_stream(outpost::store::Log* log, const std::string& stream) {
  std::vector<StoredRecord> out;
  (void)log->flush();
  auto id = log->find_stream(stream);
  if (!id.is_ok()) return out;
  auto reader = log->read(id.value(), outpost::store::ReadOptions{});
  if (!reader.is_ok()) return out;
  outpost::store::RecordView rv;
  while (reader.value()->next(&rv) == outpost::store::Reader::Next::kRecord)
    out.push_back({std::string(rv.key), std::string(rv.payload)});
  return out;
}

inline std::vector<std::string> payloads(const std::vector<StoredRecord>& recs) {
  std::vector<std::string> out;
  for (const auto& r : recs) out.push_back(r.payload);
  return out;
}

// A LogSink that a test can make refuse appends, as a full disk with the reject policy does.
class SwitchableSink final : public outpost::ingest::MessageSink {
 public:
  explicit SwitchableSink(outpost::store::Log* log) : inner_(log) {}
  outpost::Status deliver(const outpost::ingest::SourceMessage& m) override {
    delivers_.fetch_add(1);
    if (refuse_.load()) return outpost::Status::full("disk quota reached (test)");
    return inner_.deliver(m);
  }
  outpost::Status make_durable() override {
    durables_.fetch_add(1);
    return inner_.make_durable();
  }
  std::atomic<bool> refuse_{false};
  std::atomic<int> delivers_{0};
  std::atomic<int> durables_{0};

 private:
  outpost::ingest::LogSink inner_;
};

inline outpost::ingest::SourceLogger quiet_logger(std::vector<std::string>* lines, std::mutex* mu) {
  return [lines, mu](int, std::string_view component, std::string_view message) {
    std::lock_guard<std::mutex> lock(*mu);
    lines->push_back(std::string(component) + ": " + std::string(message));
  };
}

}  // namespace ingest_test
