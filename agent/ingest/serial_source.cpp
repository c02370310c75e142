#include "agent/ingest/serial_source.h"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>

#include "agent/ingest/source_internal.h"

namespace outpost::ingest {
namespace {

constexpr int kLogError = 3;
constexpr int kLogWarning = 4;
constexpr int kLogInfo = 6;

struct BaudEntry {
  std::uint32_t rate;
  speed_t code;
};

constexpr BaudEntry kBauds[] = {
    {50, B50},         {75, B75},         {110, B110},       {134, B134},       {150, B150},
    {200, B200},       {300, B300},       {600, B600},       {1200, B1200},     {1800, B1800},
    {2400, B2400},     {4800, B4800},     {9600, B9600},     {19200, B19200},   {38400, B38400},
    {57600, B57600},   {115200, B115200}, {230400, B230400}, {460800, B460800}, {500000, B500000},
    {576000, B576000}, {921600, B921600}, {1000000, B1000000}, {1152000, B1152000},
    {1500000, B1500000}, {2000000, B2000000}, {2500000, B2500000}, {3000000, B3000000},
    {3500000, B3500000}, {4000000, B4000000},
};

bool baud_code(std::uint32_t rate, speed_t* out) {
  for (const auto& b : kBauds) {
    if (b.rate == rate) {
      *out = b.code;
      return true;
    }
  }
  return false;
}

std::string errno_text(int err) { return std::generic_category().message(err); }

std::string seconds_text(std::int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000.0);
  return buf;
}

}  // namespace

Status validate_serial_options(const SerialSourceOptions& o) {
  const std::string where = "serial source '" + o.name + "'";
  if (o.name.empty()) return Status::invalid_argument("serial source: name is empty");
  if (o.device.empty()) return Status::invalid_argument(where + ": device is empty");
  if (o.stream.empty()) return Status::invalid_argument(where + ": stream is empty");
  speed_t code;
  if (!baud_code(o.baud, &code))
    return Status::invalid_argument(where + ": unsupported baud rate " + std::to_string(o.baud) +
                                    " (standard rates 50..4000000, e.g. 9600, 115200)");
  if (o.data_bits < 5 || o.data_bits > 8)
    return Status::invalid_argument(where + ": data_bits " + std::to_string(o.data_bits) + " (must be 5..8)");
  if (o.stop_bits != 1 && o.stop_bits != 2)
    return Status::invalid_argument(where + ": stop_bits " + std::to_string(o.stop_bits) + " (must be 1 or 2)");
  if (o.framing == SerialFraming::kLine) {
    if (o.delimiter.empty()) return Status::invalid_argument(where + ": line delimiter is empty");
    if (o.max_line_bytes == 0) return Status::invalid_argument(where + ": max_line_bytes must be > 0");
  } else if (o.frame_bytes == 0) {
    return Status::invalid_argument(where + ": fixed framing needs frame_bytes > 0");
  }
  if (o.reopen.min_ms <= 0 || o.reopen.max_ms < o.reopen.min_ms)
    return Status::invalid_argument(where + ": reopen backoff needs 0 < min <= max");
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// Framer

Framer::Framer(const SerialSourceOptions& o)
    : framing_(o.framing),
      delimiter_(o.delimiter),
      strip_cr_(o.strip_cr),
      skip_empty_(o.skip_empty_lines),
      max_line_(o.max_line_bytes),
      frame_bytes_(o.frame_bytes) {}

void Framer::feed(std::string_view bytes) {
  // Compact now and then so the buffer does not grow with what was already framed.
  if (pos_ > 0 && (pos_ == buffer_.size() || pos_ >= 4096)) {
    buffer_.erase(0, pos_);
    pos_ = 0;
  }
  buffer_.append(bytes);
  produce();
}

void Framer::produce() {
  if (framing_ == SerialFraming::kFixed) {
    while (buffer_.size() - pos_ >= frame_bytes_) {
      ready_.push_back(Frame{buffer_.substr(pos_, frame_bytes_), false, {}});
      pos_ += frame_bytes_;
    }
    return;
  }
  const std::size_t dlen = delimiter_.size();
  while (pos_ < buffer_.size()) {
    const std::size_t found = buffer_.find(delimiter_, pos_ + scan_from_);
    if (found != std::string::npos) {
      std::size_t end = found;
      if (discarding_) {
        discarding_ = false;  // the over-long line ends here; its tail was dropped
      } else {
        if (strip_cr_ && end > pos_ && buffer_[end - 1] == '\r') --end;
        const std::size_t len = end - pos_;
        if (len > max_line_) {
          ready_.push_back(Frame{buffer_.substr(pos_, max_line_), true,
                                 "line of " + std::to_string(len) + " bytes exceeds max_line_bytes " +
                                     std::to_string(max_line_) + "; first " + std::to_string(max_line_) +
                                     " bytes kept, the rest dropped"});
        } else if (len > 0 || !skip_empty_) {
          ready_.push_back(Frame{buffer_.substr(pos_, len), false, {}});
        }
      }
      pos_ = found + dlen;
      scan_from_ = 0;
      continue;
    }
    const std::size_t pending = buffer_.size() - pos_;
    // The last dlen-1 bytes may be the start of a delimiter; one more for a '\r'.
    const std::size_t keep = dlen - 1;
    if (discarding_) {
      if (pending > keep) pos_ = buffer_.size() - keep;
      scan_from_ = 0;
      return;
    }
    if (pending > max_line_ + 1 + keep) {
      ready_.push_back(Frame{buffer_.substr(pos_, max_line_), true,
                             "line exceeds max_line_bytes " + std::to_string(max_line_) +
                                 " (no delimiter); first " + std::to_string(max_line_) +
                                 " bytes kept, the rest up to the next delimiter dropped"});
      discarding_ = true;
      pos_ = buffer_.size() - keep;
      scan_from_ = 0;
      return;
    }
    scan_from_ = pending > keep ? pending - keep : 0;
    return;
  }
}

const Framer::Frame* Framer::peek() {
  if (ready_head_ < ready_.size()) return &ready_[ready_head_];
  return nullptr;
}

void Framer::pop() {
  if (ready_head_ < ready_.size()) ++ready_head_;
  if (ready_head_ == ready_.size()) {
    ready_.clear();
    ready_head_ = 0;
  }
}

void Framer::flush_partial(std::string_view cause) {
  const std::size_t pending = buffer_.size() - pos_;
  if (pending > 0 && !discarding_) {
    std::string bytes = buffer_.substr(pos_);
    std::string reason = std::string(framing_ == SerialFraming::kLine ? "partial line" : "partial record") +
                         " of " + std::to_string(pending) + " bytes before " + std::string(cause);
    if (bytes.size() > max_line_ && framing_ == SerialFraming::kLine) bytes.resize(max_line_);
    ready_.push_back(Frame{std::move(bytes), true, std::move(reason)});
  }
  buffer_.clear();
  pos_ = 0;
  scan_from_ = 0;
  discarding_ = false;
}

// ---------------------------------------------------------------------------------------------
// SerialSource

struct SerialSource::Impl {
  Impl(SerialSourceOptions o, MessageSink* s, SourceLogger l)
      : opts(std::move(o)),
        sink(s),
        log(l ? std::move(l) : default_source_logger()),
        component("serial[" + opts.name + "]"),
        metrics(opts.name, "serial", opts.device),
        framer(opts),
        reopen_backoff(opts.reopen),
        retry_backoff({50, 5000}) {}

  const SerialSourceOptions opts;
  MessageSink* const sink;
  const SourceLogger log;
  const std::string component;
  internal::MetricsBox metrics;

  // Everything below is owned by the loop thread once start() has launched it.
  uv_loop_t loop{};
  uv_async_t stop_async{};
  uv_poll_t poll{};
  uv_timer_t timer{};
  bool poll_active = false;    // poll handle initialised (fd open)
  int fd = -1;
  bool opened_once = false;
  bool waiting_for_sink = false;  // the timer retries delivery, reading is paused
  bool stopping = false;
  Framer framer;
  Backoff reopen_backoff;
  Backoff retry_backoff;
  std::string last_open_error;
  std::thread thread;
  bool running = false;  // guarded by start/stop being called from one owner

  void info(const std::string& m) { log(kLogInfo, component, m); }
  void warn(const std::string& m) { log(kLogWarning, component, m); }
  void error(const std::string& m) { log(kLogError, component, m); }

  std::string label() const { return opts.name + " (" + opts.device + ")"; }

  // Opens and configures the device; returns the error text on failure.
  std::string open_device() {
    int f = ::open(opts.device.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (f < 0) return "cannot open: " + errno_text(errno);
    termios tio{};
    if (::tcgetattr(f, &tio) != 0) {
      const int err = errno;
      ::close(f);
      return err == ENOTTY ? std::string("not a terminal device") : "tcgetattr: " + errno_text(err);
    }
    ::cfmakeraw(&tio);
    tio.c_cflag &= ~static_cast<tcflag_t>(CSIZE | PARENB | PARODD | CSTOPB | CRTSCTS);
    switch (opts.data_bits) {
      case 5: tio.c_cflag |= CS5; break;
      case 6: tio.c_cflag |= CS6; break;
      case 7: tio.c_cflag |= CS7; break;
      default: tio.c_cflag |= CS8; break;
    }
    if (opts.parity == SerialParity::kEven) tio.c_cflag |= PARENB;
    if (opts.parity == SerialParity::kOdd) tio.c_cflag |= PARENB | PARODD;
    if (opts.stop_bits == 2) tio.c_cflag |= CSTOPB;
    if (opts.flow_control == SerialFlowControl::kRtsCts) tio.c_cflag |= CRTSCTS;
    tio.c_cflag |= CLOCAL | CREAD;  // ignore modem lines; enable the receiver
    // VMIN=1: with O_NONBLOCK an empty tty then reads as EAGAIN, so read() == 0 means hangup.
    // (VMIN=0 would make an empty read return 0, indistinguishable from a vanished device.)
    tio.c_cc[VMIN] = 1;
    tio.c_cc[VTIME] = 0;
    speed_t code = B9600;
    baud_code(opts.baud, &code);
    ::cfsetispeed(&tio, code);
    ::cfsetospeed(&tio, code);
    if (::tcsetattr(f, TCSANOW, &tio) != 0) {
      const int err = errno;
      ::close(f);
      return "tcsetattr (" + std::to_string(opts.baud) + " baud): " + errno_text(err);
    }
    int rc = uv_poll_init(&loop, &poll, f);
    if (rc != 0) {
      ::close(f);
      return std::string("uv_poll_init: ") + uv_strerror(rc);
    }
    poll.data = this;
    fd = f;
    poll_active = true;
    uv_poll_start(&poll, UV_READABLE | UV_DISCONNECT, &Impl::on_poll);
    return {};
  }

  void close_device() {
    if (!poll_active) return;
    uv_poll_stop(&poll);
    poll_active = false;
    // The fd is closed in the close callback, after libuv has forgotten it.
    uv_close(reinterpret_cast<uv_handle_t*>(&poll), [](uv_handle_t* h) {
      auto* self = static_cast<Impl*>(h->data);
      if (self->fd >= 0) ::close(self->fd);
      self->fd = -1;
    });
  }

  void try_open() {
    if (stopping) return;
    std::string err = open_device();
    if (err.empty()) {
      metrics.record_connected(!opened_once);
      info(std::string(opened_once ? "reopened " : "opened ") + opts.device + " (" +
           std::to_string(opts.baud) + " baud)");
      opened_once = true;
      reopen_backoff.reset();
      last_open_error.clear();
      metrics.set_state(SourceState::kConnected, "reading " + label());
      return;
    }
    const std::int64_t delay = reopen_backoff.next_delay_ms();
    const std::string msg = "serial device " + label() + ": " + err;
    metrics.record_connect_failure(msg);
    metrics.set_state(SourceState::kReopening, msg + "; retry in " + seconds_text(delay));
    if (err != last_open_error || reopen_backoff.attempts() % 20 == 0) {
      warn(msg + "; retry in " + seconds_text(delay));
      last_open_error = err;
    }
    schedule(delay, &Impl::on_reopen_timer);
  }

  void schedule(std::int64_t ms, uv_timer_cb cb) {
    uv_timer_stop(&timer);
    uv_timer_start(&timer, cb, static_cast<std::uint64_t>(ms), 0);
  }

  // Hands ready frames to the sink. Returns false if the sink refused (frames stay).
  bool deliver_ready() {
    bool any = false;
    while (const Framer::Frame* f = framer.peek()) {
      SourceMessage m;
      m.source = opts.name;
      m.stream = opts.stream;
      m.origin = opts.device;
      m.payload = f->bytes;
      m.receive_time_ms = wall_time_ms();
      m.malformed = f->malformed;
      m.malformed_reason = f->reason;
      if (!counted_current) {
        metrics.record_received(f->bytes.size(), false);
        counted_current = true;
      }
      Status st = sink->deliver(m);
      if (!st.is_ok()) {
        sink_failed(st, "sink refused a frame from " + label());
        return false;
      }
      metrics.record_delivered(f->malformed);
      if (f->malformed) warn("dead-lettering frame from " + opts.device + ": " + f->reason);
      framer.pop();
      counted_current = false;
      any = true;
    }
    if (any && opts.ack == AckMode::kDurable) {
      Status st = sink->make_durable();
      if (!st.is_ok()) {
        sink_failed(st, "sink could not make frames durable");
        // The frames are stored (written); only durability is late. Keep reading.
      }
    }
    if (waiting_for_sink) {
      waiting_for_sink = false;
      retry_backoff.reset();
      info("sink accepts frames again");
      if (poll_active) metrics.set_state(SourceState::kConnected, "reading " + label());
    }
    return true;
  }
  bool counted_current = false;  // the frame at the framer's head is already in `received`

  void sink_failed(const Status& st, const std::string& what) {
    const std::string msg = what + ": " + st.to_string() + "; bytes not consumed";
    metrics.record_sink_error(msg);
    metrics.set_state(SourceState::kStalled, "sink refuses frames from " + label() + ": " + st.to_string());
    if (!waiting_for_sink) error(msg + ", retrying");
  }

  void pause_for_sink() {
    waiting_for_sink = true;
    if (poll_active) uv_poll_stop(&poll);
    schedule(retry_backoff.next_delay_ms(), &Impl::on_retry_timer);
  }

  void device_lost(const std::string& cause) {
    const std::string msg = "serial device " + label() + " lost: " + cause;
    metrics.record_error(msg);
    warn(msg + "; reopening");
    close_device();
    framer.flush_partial("device " + opts.device + " was lost (" + cause + ")");
    metrics.set_state(SourceState::kReopening, msg);
    if (!deliver_ready()) {
      pause_for_sink();
      return;
    }
    schedule(reopen_backoff.next_delay_ms(), &Impl::on_reopen_timer);
  }

  static void on_poll(uv_poll_t* handle, int status, int events) {
    auto* self = static_cast<Impl*>(handle->data);
    if (!self->poll_active) return;
    if (status < 0) {
      self->device_lost(std::string("poll error: ") + uv_strerror(status));
      return;
    }
    char buf[4096];
    // Read what is there (bounded per callback so other handles get their turn).
    for (int round = 0; round < 16; ++round) {
      const ssize_t n = ::read(self->fd, buf, sizeof buf);
      if (n > 0) {
        self->metrics.record_read(static_cast<std::size_t>(n));
        self->framer.feed(std::string_view(buf, static_cast<std::size_t>(n)));
        if (!self->deliver_ready()) {
          self->pause_for_sink();
          return;
        }
        continue;
      }
      if (n == 0) {
        self->device_lost("end of file (hangup)");
        return;
      }
      const int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) break;
      if (err == EINTR) continue;
      self->device_lost("read: " + errno_text(err));  // EIO, ENXIO, ENODEV on unplug
      return;
    }
    if ((events & UV_DISCONNECT) != 0) {
      // Hangup and nothing left to read (the loop above drained the fd).
      self->device_lost("hangup");
    }
  }

  static void on_retry_timer(uv_timer_t* t) {
    auto* self = static_cast<Impl*>(t->data);
    if (self->stopping) return;
    if (!self->deliver_ready()) {
      self->pause_for_sink();
      return;
    }
    if (self->poll_active) {
      uv_poll_start(&self->poll, UV_READABLE | UV_DISCONNECT, &Impl::on_poll);
    } else {
      self->try_open();
    }
  }

  static void on_reopen_timer(uv_timer_t* t) {
    auto* self = static_cast<Impl*>(t->data);
    self->try_open();
  }

  static void on_stop(uv_async_t* a) {
    auto* self = static_cast<Impl*>(a->data);
    self->stopping = true;
    uv_timer_stop(&self->timer);
    self->close_device();
    uv_close(reinterpret_cast<uv_handle_t*>(&self->timer), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&self->stop_async), nullptr);
  }

  void run() {
    try_open();
    uv_run(&loop, UV_RUN_DEFAULT);
  }
};

SerialSource::SerialSource(SerialSourceOptions options, MessageSink* sink, SourceLogger logger)
    : impl_(std::make_unique<Impl>(std::move(options), sink, std::move(logger))) {}

SerialSource::~SerialSource() { stop(); }

Status SerialSource::start() {
  Impl& s = *impl_;
  OUTPOST_RETURN_IF_ERROR(validate_serial_options(s.opts));
  if (s.sink == nullptr) return Status::invalid_argument("serial source '" + s.opts.name + "': no sink");
  if (s.running) return Status::ok();
  int rc = uv_loop_init(&s.loop);
  if (rc != 0) return Status::io_error("serial source '" + s.opts.name + "': uv_loop_init: " + uv_strerror(rc));
  uv_async_init(&s.loop, &s.stop_async, &Impl::on_stop);
  s.stop_async.data = &s;
  uv_timer_init(&s.loop, &s.timer);
  s.timer.data = &s;
  s.stopping = false;
  s.running = true;
  s.metrics.set_state(SourceState::kReopening, "opening " + s.label());
  s.thread = std::thread([&s] { s.run(); });
  return Status::ok();
}

void SerialSource::stop() {
  Impl& s = *impl_;
  if (!s.running) return;
  uv_async_send(&s.stop_async);
  s.thread.join();
  uv_loop_close(&s.loop);
  s.running = false;
  s.metrics.set_state(SourceState::kStopped, "stopped");
}

SourceMetrics SerialSource::metrics() const { return impl_->metrics.snapshot(); }

const std::string& SerialSource::name() const { return impl_->opts.name; }

}  // namespace outpost::ingest
