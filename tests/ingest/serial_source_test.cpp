// Serial source over pseudo-terminals (openpty); the device path is a symlink, as udev's
// /dev/serial/by-id links are, so a "replugged" device can come back under the same name.
#include <doctest/doctest.h>
#include <pty.h>
#include <termios.h>

#include "agent/ingest/serial_source.h"
#include "ingest_test_util.h"

using namespace ingest_test;
using namespace outpost::ingest;
using outpost::Status;

namespace {

// A pty pair whose slave is reachable through `link`.
class FakeDevice {
 public:
  explicit FakeDevice(fs::path link) : link_(std::move(link)) { plug(); }
  ~FakeDevice() { unplug(); }

  void plug() {
    int slave = -1;
    char name[256];
    REQUIRE(::openpty(&master_, &slave, name, nullptr, nullptr) == 0);
    // Raw until the source configures it, so nothing is cooked if a byte comes early.
    termios t{};
    ::tcgetattr(slave, &t);
    ::cfmakeraw(&t);
    ::tcsetattr(slave, TCSANOW, &t);
    slave_ = slave;
    std::error_code ec;
    fs::remove(link_, ec);
    fs::create_symlink(name, link_);
  }
  // Like pulling the USB plug: the master goes away, the device node and link vanish.
  void unplug() {
    if (master_ < 0) return;
    if (slave_ >= 0) ::close(slave_);
    slave_ = -1;
    ::close(master_);
    master_ = -1;
    std::error_code ec;
    fs::remove(link_, ec);
  }
  // Drop the test's own slave fd once the source has opened it (then a master close is a
  // hangup for the source alone).
  void release_slave() {
    if (slave_ >= 0) ::close(slave_);
    slave_ = -1;
  }
  void write(std::string_view bytes) {
    std::size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::write(master_, bytes.data() + off, bytes.size() - off);
      if (n < 0 && errno == EINTR) continue;
      REQUIRE(n > 0);
      off += static_cast<std::size_t>(n);
    }
  }
  termios attributes() const {
    termios t{};
    int fd = ::open(link_.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK);
    ::tcgetattr(fd, &t);
    ::close(fd);
    return t;
  }

 private:
  fs::path link_;
  int master_ = -1;
  int slave_ = -1;
};

SerialSourceOptions base(const fs::path& link) {
  SerialSourceOptions o;
  o.name = "meter";
  o.device = link.string();
  o.stream = "serial_raw";
  o.baud = 115200;
  o.reopen = {20, 200};
  return o;
}

struct Logs {
  std::mutex mu;
  std::vector<std::string> lines;
  SourceLogger logger() { return quiet_logger(&lines, &mu); }
};

bool connected(const Source& s) { return s.metrics().state == SourceState::kConnected; }

// Runs the framer over `bytes` fed in chunks of `chunk` and returns the frames.
std::vector<Framer::Frame> frame_all(const SerialSourceOptions& o, std::string_view bytes, std::size_t chunk) {
  Framer f(o);
  std::vector<Framer::Frame> out;
  for (std::size_t i = 0; i < bytes.size(); i += chunk) {
    f.feed(bytes.substr(i, chunk));
    while (const Framer::Frame* fr = f.peek()) {
      out.push_back(*fr);
      f.pop();
    }
  }
  return out;
}

}  // namespace

TEST_CASE("FramerResultDoesNotDependOnHowBytesArrive") {
  SerialSourceOptions o;
  o.delimiter = "\r\n";
  o.strip_cr = false;
  o.max_line_bytes = 8;
  const std::string input = "one\r\ntwo\r\n\r\nthis-line-is-too-long\r\nthree\r\nfour-x\r\n";
  const auto whole = frame_all(o, input, input.size());
  REQUIRE(whole.size() == 5);
  CHECK(whole[0].bytes == "one");
  CHECK(whole[1].bytes == "two");
  CHECK(whole[2].malformed);
  CHECK(whole[2].bytes == "this-lin");
  CHECK(whole[3].bytes == "three");
  CHECK(whole[4].bytes == "four-x");
  for (std::size_t chunk = 1; chunk < input.size(); ++chunk) {
    CAPTURE(chunk);
    const auto split = frame_all(o, input, chunk);
    REQUIRE(split.size() == whole.size());
    for (std::size_t i = 0; i < split.size(); ++i) {
      CHECK(split[i].bytes == whole[i].bytes);
      CHECK(split[i].malformed == whole[i].malformed);
    }
  }
}

TEST_CASE("InvalidSerialOptionsAreRejected") {
  SerialSourceOptions o = base("/dev/null");
  o.baud = 12345;
  CHECK(validate_serial_options(o).message().find("unsupported baud rate 12345") != std::string::npos);
  o.baud = 9600;
  o.data_bits = 9;
  CHECK(validate_serial_options(o).message().find("data_bits 9") != std::string::npos);
  o.data_bits = 8;
  o.framing = SerialFraming::kFixed;
  CHECK(validate_serial_options(o).message().find("frame_bytes") != std::string::npos);
  CHECK(validate_serial_options(o).message().find("meter") != std::string::npos);
}

TEST_CASE("SerialLinesFixedFramesGarbageAndOverlongLines" * doctest::timeout(60)) {
  TempDir dir;
  const fs::path link = dir.path() / "ttyTEST0";
  FakeDevice dev(link);
  TestLog store;
  LogSink sink(store.log.get());
  Logs logs;

  SUBCASE("newline and CRLF lines, termios applied") {
    SerialSourceOptions o = base(link);
    o.data_bits = 7;
    o.parity = SerialParity::kOdd;
    o.stop_bits = 2;
    SerialSource source(o, &sink, logs.logger());
    REQUIRE(source.start().is_ok());
    REQUIRE(wait_until([&] { return connected(source); }, 5s));
    const termios t = dev.attributes();
    CHECK(cfgetispeed(&t) == B115200);
    // Linux ptys force CS8 and clear PARENB (drivers/tty/pty.c); the other bits stick.
    CHECK((t.c_cflag & PARODD) != 0);
    CHECK((t.c_cflag & CSTOPB) != 0);
    CHECK((t.c_lflag & ICANON) == 0);
    dev.write("t=21.5\nt=21.6\r\n\r\nt=");
    dev.write("21.7\n");
    dev.write(std::string("bin\0\xff\xfe ok\n", 10));
    REQUIRE(wait_until([&] { return source.metrics().delivered == 4; }, 5s));
    CHECK(source.metrics().reconnects == 0);  // an empty read is not a hangup
    CHECK(source.metrics().errors == 0);
    CHECK(payloads(read_stream(store.log.get(), "serial_raw")) ==
          std::vector<std::string>{"t=21.5", "t=21.6", "t=21.7", std::string("bin\0\xff\xfe ok", 9)});
    CHECK(read_stream(store.log.get(), "serial_raw")[0].key == link.string());
    CHECK(source.metrics().malformed == 0);
    // A line not complete yet is read and held: read_bytes says so before any message does.
    const std::uint64_t read_before = source.metrics().read_bytes;
    CHECK(read_before == 34);
    dev.write("t=2");
    REQUIRE(wait_until([&] { return source.metrics().read_bytes == read_before + 3; }, 5s));
    CHECK(source.metrics().received == 4);
  }
  SUBCASE("custom multi-byte delimiter") {
    SerialSourceOptions o = base(link);
    o.delimiter = "\x03\x04";
    SerialSource source(o, &sink, logs.logger());
    REQUIRE(source.start().is_ok());
    REQUIRE(wait_until([&] { return connected(source); }, 5s));
    dev.write("A1\x03\x04" "B2\x03");
    dev.write("\x04" "C3\n\x03\x04");
    REQUIRE(wait_until([&] { return source.metrics().delivered == 3; }, 5s));
    CHECK(payloads(read_stream(store.log.get(), "serial_raw")) == std::vector<std::string>{"A1", "B2", "C3\n"});
  }
  SUBCASE("fixed-length records") {
    SerialSourceOptions o = base(link);
    o.framing = SerialFraming::kFixed;
    o.frame_bytes = 4;
    SerialSource source(o, &sink, logs.logger());
    REQUIRE(source.start().is_ok());
    REQUIRE(wait_until([&] { return connected(source); }, 5s));
    dev.write("abcdefgh12");
    dev.write("34\n\n\n\n");
    REQUIRE(wait_until([&] { return source.metrics().delivered == 4; }, 5s));
    CHECK(payloads(read_stream(store.log.get(), "serial_raw")) ==
          std::vector<std::string>{"abcd", "efgh", "1234", "\n\n\n\n"});
  }
  SUBCASE("over-long lines are cut and dead-lettered with a reason, next line is fine") {
    SerialSourceOptions o = base(link);
    o.max_line_bytes = 16;
    SerialSource source(o, &sink, logs.logger());
    REQUIRE(source.start().is_ok());
    REQUIRE(wait_until([&] { return connected(source); }, 5s));
    dev.write(std::string(40, 'x') + "\n" + "short\n" + std::string(17, 'y'));
    dev.write("\nafter\n");
    REQUIRE(wait_until([&] { return source.metrics().delivered == 4; }, 5s));
    CHECK(payloads(read_stream(store.log.get(), "serial_raw")) == std::vector<std::string>{"short", "after"});
    const auto dead = read_stream(store.log.get(), "dead_letter");
    REQUIRE(dead.size() == 2);
    CHECK(dead[0].payload == std::string(16, 'x'));
    CHECK(dead[0].key.find("exceeds max_line_bytes 16") != std::string::npos);
    CHECK(dead[1].payload == std::string(16, 'y'));
    CHECK(source.metrics().malformed == 2);
  }
}

TEST_CASE("UnpluggedDeviceIsReopenedWithBackoffAndPartialLineKept" * doctest::timeout(60)) {
  TempDir dir;
  const fs::path link = dir.path() / "ttyUSB-by-id";
  auto dev = std::make_unique<FakeDevice>(link);
  TestLog store;
  LogSink sink(store.log.get());
  Logs logs;
  SerialSource source(base(link), &sink, logs.logger());
  REQUIRE(source.start().is_ok());
  REQUIRE(wait_until([&] { return connected(source); }, 5s));
  dev->release_slave();
  dev->write("before\npart");
  const bool first = wait_until([&] { return source.metrics().delivered == 1; }, 5s);
  if (!first) {
    std::lock_guard<std::mutex> lock(logs.mu);
    for (const auto& l : logs.lines) MESSAGE(l);
    MESSAGE(source.metrics().last_error << " received=" << source.metrics().received);
  }
  REQUIRE(first);

  dev->unplug();
  REQUIRE(wait_until([&] { return source.metrics().state == SourceState::kReopening; }, 5s));
  // Several failed opens while the device is away (link missing), then it comes back.
  REQUIRE(wait_until([&] { return source.metrics().connect_failures >= 2; }, 5s));
  SourceMetrics away = source.metrics();
  CHECK_FALSE(away.healthy);
  CHECK(away.detail.find(link.string()) != std::string::npos);
  CHECK(away.last_error.find("cannot open") != std::string::npos);

  dev->plug();
  REQUIRE(wait_until([&] { return connected(source); }, 5s));
  dev->release_slave();
  dev->write("after\n");
  REQUIRE(wait_until([&] { return source.metrics().delivered == 3; }, 5s));
  CHECK(payloads(read_stream(store.log.get(), "serial_raw")) == std::vector<std::string>{"before", "after"});
  const auto dead = read_stream(store.log.get(), "dead_letter");
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].payload == "part");
  CHECK(dead[0].key.find("partial line") != std::string::npos);
  CHECK(source.metrics().reconnects == 1);
  CHECK(source.metrics().errors >= 1);
}

TEST_CASE("SerialBytesAreNotConsumedWhileTheSinkRefuses" * doctest::timeout(60)) {
  TempDir dir;
  const fs::path link = dir.path() / "ttyS-test";
  FakeDevice dev(link);
  TestLog store;
  SwitchableSink sink(store.log.get());
  Logs logs;
  SerialSourceOptions o = base(link);
  o.ack = AckMode::kDurable;
  SerialSource source(o, &sink, logs.logger());
  REQUIRE(source.start().is_ok());
  REQUIRE(wait_until([&] { return connected(source); }, 5s));
  sink.refuse_ = true;
  dev.write("r1\nr2\nr3\n");
  REQUIRE(wait_until([&] { return source.metrics().state == SourceState::kStalled; }, 5s));
  REQUIRE(wait_until([&] { return sink.delivers_.load() >= 3; }, 5s));
  CHECK(source.metrics().delivered == 0);
  CHECK_FALSE(source.metrics().healthy);
  sink.refuse_ = false;
  REQUIRE(wait_until([&] { return source.metrics().delivered == 3; }, 5s));
  CHECK(payloads(read_stream(store.log.get(), "serial_raw")) == std::vector<std::string>{"r1", "r2", "r3"});
  CHECK(sink.durables_.load() >= 1);
  CHECK(wait_until([&] { return connected(source); }, 5s));
  CHECK(source.metrics().received == 3);
}
