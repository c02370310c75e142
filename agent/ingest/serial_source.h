// Serial source: reads a tty (USB-serial adapter, UART, RS-485 converter) in raw mode and
// delivers framed messages (lines or fixed-length records) to a MessageSink.
//
// Threads: each SerialSource owns one thread running its own libuv loop (uv_poll on the
// O_NONBLOCK fd, uv_timer for reopen/retry backoff). The sink is called on that thread; a
// slow sink (durable ack waits for fdatasync) therefore never stalls the agent's main loop.
// start()/stop()/metrics() may be called from any thread.
//
// Bytes are consumed (dropped from the source's buffer) only after the sink accepted the
// frame. While the sink refuses, the source stops reading; the tty driver's buffer (about
// 4 KiB) then fills and, without hardware flow control, the device's further bytes are lost in
// the kernel. Serial has no acknowledgement; README.md discusses this.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/ingest/source.h"

namespace outpost::ingest {

enum class SerialParity : std::uint8_t { kNone, kEven, kOdd };
enum class SerialFraming : std::uint8_t { kLine, kFixed };
enum class SerialFlowControl : std::uint8_t { kNone, kRtsCts };

struct SerialSourceOptions {
  std::string name;    // used in logs, metrics and SourceMessage::source
  std::string device;  // e.g. /dev/ttyUSB0 or /dev/serial/by-id/... (symlinks are followed on each open)
  std::string stream;  // target stream
  std::uint32_t baud = 9600;  // a standard rate: 50 .. 4000000
  int data_bits = 8;          // 5..8
  SerialParity parity = SerialParity::kNone;
  int stop_bits = 1;          // 1 or 2
  SerialFlowControl flow_control = SerialFlowControl::kNone;

  SerialFraming framing = SerialFraming::kLine;
  std::string delimiter = "\n";  // line framing: one or more bytes ending a line
  bool strip_cr = true;          // drop one '\r' before the delimiter ("\r\n" lines)
  bool skip_empty_lines = true;  // an empty line is not a message
  std::size_t max_line_bytes = 4096;  // longer lines: first max_line_bytes delivered as malformed
  std::size_t frame_bytes = 0;        // fixed framing: bytes per message (> 0)

  BackoffOptions reopen{250, 10000};  // retry opening a vanished / failing device
  AckMode ack = AckMode::kWritten;
};

Status validate_serial_options(const SerialSourceOptions& options);

// Splits a byte stream into frames. Pure; used by SerialSource and tested alone.
class Framer {
 public:
  struct Frame {
    std::string bytes;
    bool malformed = false;
    std::string reason;  // why malformed
  };

  explicit Framer(const SerialSourceOptions& options);

  // Appends bytes from the device.
  void feed(std::string_view bytes);
  // The next complete frame, if any, without consuming it (peek until the sink accepted it).
  const Frame* peek();
  // Consumes the frame returned by the last peek().
  void pop();
  // At device loss: turns buffered bytes of an unfinished line/record into a malformed frame
  // (reason names the cause), so nothing read is dropped silently.
  void flush_partial(std::string_view cause);
  std::size_t buffered_bytes() const { return buffer_.size() - pos_; }

 private:
  void produce();

  SerialFraming framing_;
  std::string delimiter_;
  bool strip_cr_;
  bool skip_empty_;
  std::size_t max_line_;
  std::size_t frame_bytes_;

  std::string buffer_;     // unframed bytes from pos_
  std::size_t pos_ = 0;
  std::size_t scan_from_ = 0;  // offset (from pos_) where the delimiter search resumes
  bool discarding_ = false;    // inside an over-long line: drop bytes until the delimiter
  std::vector<Frame> ready_;   // frames not yet accepted; front is next
  std::size_t ready_head_ = 0;
};

class SerialSource final : public Source {
 public:
  // sink must outlive the source. logger may be empty (stderr).
  SerialSource(SerialSourceOptions options, MessageSink* sink, SourceLogger logger = {});
  ~SerialSource() override;

  SerialSource(const SerialSource&) = delete;
  SerialSource& operator=(const SerialSource&) = delete;

  Status start() override;
  void stop() override;
  SourceMetrics metrics() const override;
  const std::string& name() const override;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace outpost::ingest
