// `outpost dev-central`: a local stand-in for the central Kafka cluster (librdkafka's mock
// cluster on loopback), for demos and tests of store-and-forward.
//
// Prints `bootstrap=127.0.0.1:PORT[,...]` as the first line on stdout (and into
// --bootstrap-file, written atomically), then takes commands, one per line, from stdin and/or
// a control FIFO (--control-fifo): `down all`, `up 1`, `error produce
// NOT_LEADER_FOR_PARTITION 3`, `rtt all 200`, `create topic 3`, `help`, `quit`. Each answer is
// one line on stdout ("ok ..." / "error: ...").
//
// Lifetime: exits 0 on SIGTERM, SIGINT or `quit`. End of stdin exits only when stdin is a
// terminal (Ctrl-D); otherwise (started in the background with stdin at /dev/null, or fed by
// a pipe that closes) the stdin channel just closes and the FIFO keeps working. --no-stdin
// ignores stdin altogether.
#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "agent/cli/cli.h"
#include "sync/dev_central.h"

namespace outpost::cli {
namespace {

std::atomic<bool> g_dev_central_stop{false};
void on_dev_central_signal(int) { g_dev_central_stop.store(true); }

struct DevCentralOptions {
  int brokers = 1;
  std::string bootstrap_file;
  std::string control_fifo;
  std::vector<std::string> topics;  // NAME[:PARTITIONS]
  bool no_stdin = false;
};

// Line reader over a non-blocking fd: splits what arrives into whole lines.
class LineChannel {
 public:
  explicit LineChannel(int fd) : fd_(fd) {}
  int fd() const { return fd_; }
  // Returns false at end of file or on a read error.
  bool read_lines(std::vector<std::string>* lines) {
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n > 0) {
        pending_.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0) {
        split(lines);
        if (!pending_.empty()) lines->push_back(std::move(pending_));
        pending_.clear();
        return false;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      return false;
    }
    split(lines);
    return true;
  }

 private:
  void split(std::vector<std::string>* lines) {
    std::size_t pos;
    while ((pos = pending_.find('\n')) != std::string::npos) {
      lines->push_back(pending_.substr(0, pos));
      pending_.erase(0, pos + 1);
    }
  }
  int fd_;
  std::string pending_;
};

bool write_file_atomically(const std::string& path, const std::string& text, std::string* err) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      *err = "cannot write " + tmp;
      return false;
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    *err = "cannot rename " + tmp + " to " + path + ": " + ec.message();
    return false;
  }
  return true;
}

int run_dev_central(const DevCentralOptions& opt) {
  auto central = sync::DevCentral::start(opt.brokers);
  if (!central) {
    std::cerr << "outpost dev-central: " << central.status().message() << "\n";
    return central.status().code() == Status::Code::kInvalidArgument ? 2 : 3;
  }
  sync::DevCentral& dc = **central;
  for (const auto& spec : opt.topics) {
    std::string name = spec;
    int parts = 1;
    if (auto colon = spec.rfind(':'); colon != std::string::npos) {
      name = spec.substr(0, colon);
      try {
        parts = std::stoi(spec.substr(colon + 1));
      } catch (...) {
        std::cerr << "outpost dev-central: --topic " << spec << ": bad partition count\n";
        return 2;
      }
    }
    if (Status st = dc.create_topic(name, parts, 1); !st) {
      std::cerr << "outpost dev-central: --topic " << spec << ": " << st.message() << "\n";
      return 2;
    }
  }

  int fifo_fd = -1;
  if (!opt.control_fifo.empty()) {
    struct stat sb {};
    if (::stat(opt.control_fifo.c_str(), &sb) != 0) {
      if (::mkfifo(opt.control_fifo.c_str(), 0600) != 0) {
        std::cerr << "outpost dev-central: cannot create control FIFO " << opt.control_fifo << ": "
                  << std::strerror(errno) << "\n";
        return 3;
      }
    } else if (!S_ISFIFO(sb.st_mode)) {
      std::cerr << "outpost dev-central: " << opt.control_fifo << " exists and is not a FIFO\n";
      return 2;
    }
    // O_RDWR: we hold a writer ourselves, so the FIFO never reports end of file when a client
    // closes it; clients may come and go.
    fifo_fd = ::open(opt.control_fifo.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fifo_fd < 0) {
      std::cerr << "outpost dev-central: cannot open " << opt.control_fifo << ": "
                << std::strerror(errno) << "\n";
      return 3;
    }
  }

  std::signal(SIGINT, on_dev_central_signal);
  std::signal(SIGTERM, on_dev_central_signal);
  std::signal(SIGPIPE, SIG_IGN);

  std::cout << "bootstrap=" << dc.bootstrap() << std::endl;
  if (!opt.bootstrap_file.empty()) {
    std::string err;
    if (!write_file_atomically(opt.bootstrap_file, dc.bootstrap() + "\n", &err)) {
      std::cerr << "outpost dev-central: --bootstrap-file: " << err << "\n";
      if (fifo_fd >= 0) ::close(fifo_fd);
      return 3;
    }
  }
  std::cerr << "outpost dev-central: " << dc.brokers() << " broker(s) at " << dc.bootstrap()
            << (opt.control_fifo.empty() ? "" : ", control FIFO " + opt.control_fifo)
            << "; type 'help' for commands\n";

  const bool stdin_is_tty = ::isatty(STDIN_FILENO) == 1;
  std::vector<LineChannel> channels;
  if (!opt.no_stdin) {
    int fl = ::fcntl(STDIN_FILENO, F_GETFL);
    if (fl >= 0 && ::fcntl(STDIN_FILENO, F_SETFL, fl | O_NONBLOCK) == 0) {
      channels.emplace_back(STDIN_FILENO);
    }
  }
  if (fifo_fd >= 0) channels.emplace_back(fifo_fd);

  bool quit = false;
  while (!quit && !g_dev_central_stop.load()) {
    std::vector<pollfd> pfds;
    for (auto& c : channels) pfds.push_back({c.fd(), POLLIN, 0});
    int r = ::poll(pfds.data(), pfds.size(), 200);
    if (r < 0 && errno != EINTR) break;
    for (std::size_t i = 0; i < pfds.size() && !quit; ++i) {
      if (!(pfds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      std::vector<std::string> lines;
      bool open = channels[i].read_lines(&lines);
      for (const auto& line : lines) {
        std::string answer = dc.execute(line, &quit);
        if (!answer.empty()) std::cout << answer << std::endl;
        if (quit) break;
      }
      if (!open) {
        if (channels[i].fd() == STDIN_FILENO && stdin_is_tty) quit = true;
        channels[i] = LineChannel(-1);  // poll ignores negative fds
      }
    }
  }
  if (fifo_fd >= 0) ::close(fifo_fd);
  std::cerr << "outpost dev-central: stopped\n";
  return 0;
}

}  // namespace

void add_dev_central_command(CLI::App& app, int* exit_code) {
  auto opt = std::make_shared<DevCentralOptions>();
  CLI::App* cmd = app.add_subcommand(
      "dev-central",
      "Run a local stand-in for the central Kafka cluster (librdkafka mock cluster on loopback)");
  cmd->add_option("--brokers", opt->brokers, "Number of brokers (ids 1..N)")
      ->default_val(1)
      ->check(CLI::Range(1, 64));
  cmd->add_option("--bootstrap-file", opt->bootstrap_file,
                  "Also write the bootstrap address to this file (atomically)");
  cmd->add_option("--control-fifo", opt->control_fifo,
                  "Read commands from this FIFO too (created if missing)");
  cmd->add_option("--topic", opt->topics, "Create a topic up front: NAME[:PARTITIONS] (repeatable)");
  cmd->add_flag("--no-stdin", opt->no_stdin, "Do not read commands from stdin");
  cmd->callback([opt, exit_code] { *exit_code = run_dev_central(*opt); });
}

}  // namespace outpost::cli
