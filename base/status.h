// Errors as values at module boundaries (LevelDB Status, Redpanda errc).
//
// Every function that can fail on I/O or on input returns a Status or a Result<T>.
// Exceptions never cross a module boundary or a thread: wrappers around libraries that
// throw (yaml-cpp, Paho, CLI11) catch and turn the exception into a Status whose message
// names the file, line, topic or device.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace outpost {

class [[nodiscard]] Status {
 public:
  enum class Code : std::uint8_t {
    kOk = 0,
    kNotFound,
    kCorruption,    // stored bytes fail a checksum or a structural check
    kInvalidArgument,  // bad input from a user: config, SQL, CLI flags, payloads
    kIoError,       // the operating system refused (ENOSPC, EIO, EACCES, ...)
    kBusy,          // a resource is held by someone else (the data dir lock)
    kFull,          // the disk quota or the file system is full and policy says reject
    kUnavailable,   // a peer (broker, cluster) is not reachable right now
    kFenced,        // another instance took over (Kafka transactional fencing)
    kAborted,       // the operation was cancelled by shutdown
  };

  Status() = default;
  static Status ok() { return Status(); }
  static Status not_found(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }
  static Status invalid_argument(std::string msg) {
    return Status(Code::kInvalidArgument, std::move(msg));
  }
  static Status io_error(std::string msg) { return Status(Code::kIoError, std::move(msg)); }
  static Status busy(std::string msg) { return Status(Code::kBusy, std::move(msg)); }
  static Status full(std::string msg) { return Status(Code::kFull, std::move(msg)); }
  static Status unavailable(std::string msg) { return Status(Code::kUnavailable, std::move(msg)); }
  static Status fenced(std::string msg) { return Status(Code::kFenced, std::move(msg)); }
  static Status aborted(std::string msg) { return Status(Code::kAborted, std::move(msg)); }

  bool is_ok() const { return code_ == Code::kOk; }
  explicit operator bool() const { return is_ok(); }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // "corruption: 00000000000000000042.seg@4096: block checksum mismatch"
  std::string to_string() const;

  // Returns a copy whose message is "context: message"; used to add where an error happened.
  Status with_context(const std::string& context) const {
    if (is_ok()) return *this;
    return Status(code_, context + ": " + message_);
  }

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

const char* status_code_name(Status::Code code);

inline std::string Status::to_string() const {
  if (is_ok()) return "ok";
  return std::string(status_code_name(code_)) + ": " + message_;
}

inline const char* status_code_name(Status::Code code) {
  switch (code) {
    case Status::Code::kOk: return "ok";
    case Status::Code::kNotFound: return "not found";
    case Status::Code::kCorruption: return "corruption";
    case Status::Code::kInvalidArgument: return "invalid argument";
    case Status::Code::kIoError: return "I/O error";
    case Status::Code::kBusy: return "busy";
    case Status::Code::kFull: return "full";
    case Status::Code::kUnavailable: return "unavailable";
    case Status::Code::kFenced: return "fenced";
    case Status::Code::kAborted: return "aborted";
  }
  return "unknown";
}

// A value or the Status saying why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design, like std::expected
  Result(Status status) : v_(std::move(status)) {}  // NOLINT; must not be ok

  bool is_ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return is_ok(); }
  const Status& status() const {
    static const Status kOk;
    return is_ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace outpost

// Early return of a failed Status; keeps call sites flat.
#define OUTPOST_RETURN_IF_ERROR(expr)          \
  do {                                         \
    ::outpost::Status _st = (expr);            \
    if (!_st.is_ok()) return _st;              \
  } while (0)
