#include "agent/decode/json_check.h"

#include <cstdio>

namespace outpost::decode {
namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string describe(std::string_view s, std::size_t pos) {
  if (pos >= s.size()) return "the end of the payload";
  const auto c = static_cast<unsigned char>(s[pos]);
  char buf[16];
  if (c >= 0x20 && c < 0x7F) {
    std::snprintf(buf, sizeof buf, "'%c'", c);
  } else {
    std::snprintf(buf, sizeof buf, "byte 0x%02x", c);
  }
  return buf;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Checker {
 public:
  Checker(std::string_view s, std::size_t max_depth) : s_(s), max_depth_(max_depth) {}

  std::optional<JsonSyntaxError> run() {
    skip_ws();
    if (pos_ >= s_.size()) return fail(pos_, "empty payload (no JSON value)");
    for (;;) {
      // Parse one value at pos_.
      if (!value()) return err_;
      // After a value: close containers or move to the next element.
      for (;;) {
        skip_ws();
        if (stack_.empty()) {
          if (pos_ != s_.size()) return fail(pos_, "unexpected " + describe(s_, pos_) + " after the JSON value");
          return std::nullopt;
        }
        const char top = stack_.back();
        if (pos_ >= s_.size()) return fail(pos_, truncated());
        const char c = s_[pos_];
        if (c == ',') {
          ++pos_;
          skip_ws();
          if (top == '{' && !member_key()) return err_;
          break;  // next value
        }
        if ((top == '{' && c == '}') || (top == '[' && c == ']')) {
          ++pos_;
          stack_.pop_back();
          continue;
        }
        return fail(pos_, std::string("expected ',' or '") + (top == '{' ? '}' : ']') + "' after " +
                              (top == '{' ? "an object member" : "an array element") + ", got " +
                              describe(s_, pos_));
      }
    }
  }

 private:
  std::string truncated() const { return "unexpected end of the payload (truncated?)"; }

  std::optional<JsonSyntaxError> fail(std::size_t offset, std::string message,
                                      JsonSyntaxError::Kind kind = JsonSyntaxError::Kind::kSyntax) {
    err_ = JsonSyntaxError{kind, offset, std::move(message)};
    return err_;
  }
  bool failed(std::size_t offset, std::string message, JsonSyntaxError::Kind kind = JsonSyntaxError::Kind::kSyntax) {
    fail(offset, std::move(message), kind);
    return false;
  }

  void skip_ws() {
    while (pos_ < s_.size() && is_ws(s_[pos_])) ++pos_;
  }

  // At a member's key: "key" ws ':' ws, leaving pos_ at the value.
  bool member_key() {
    if (pos_ >= s_.size()) return failed(pos_, truncated());
    if (s_[pos_] != '"') return failed(pos_, "expected a string key, got " + describe(s_, pos_));
    if (!string()) return false;
    skip_ws();
    if (pos_ >= s_.size()) return failed(pos_, truncated());
    if (s_[pos_] != ':') return failed(pos_, "expected ':' after an object key, got " + describe(s_, pos_));
    ++pos_;
    skip_ws();
    return true;
  }

  // One value; containers are opened (pushed) and their first element parsed by looping here.
  bool value() {
    for (;;) {
      if (pos_ >= s_.size()) return failed(pos_, truncated());
      const char c = s_[pos_];
      if (c == '{' || c == '[') {
        if (stack_.size() >= max_depth_) {
          return failed(pos_, "nested deeper than " + std::to_string(max_depth_) + " levels",
                        JsonSyntaxError::Kind::kDepth);
        }
        stack_.push_back(c);
        ++pos_;
        skip_ws();
        if (pos_ < s_.size() && s_[pos_] == (c == '{' ? '}' : ']')) {
          ++pos_;
          stack_.pop_back();
          return true;
        }
        if (c == '{' && !member_key()) return false;
        continue;  // first element
      }
      if (c == '"') return string();
      if (c == '-' || (c >= '0' && c <= '9')) return number();
      if (c == 't') return literal("true");
      if (c == 'f') return literal("false");
      if (c == 'n') return literal("null");
      return failed(pos_, "expected a JSON value, got " + describe(s_, pos_));
    }
  }

  bool literal(std::string_view word) {
    for (std::size_t i = 0; i < word.size(); ++i) {
      if (pos_ + i >= s_.size()) return failed(pos_ + i, truncated());
      if (s_[pos_ + i] != word[i]) return failed(pos_, "invalid literal (expected '" + std::string(word) + "')");
    }
    pos_ += word.size();
    return true;
  }

  bool number() {
    const std::size_t start = pos_;
    auto digit = [&](std::size_t i) { return i < s_.size() && s_[i] >= '0' && s_[i] <= '9'; };
    if (s_[pos_] == '-') ++pos_;
    if (pos_ >= s_.size()) return failed(pos_, truncated());
    if (s_[pos_] == '0') {
      ++pos_;
      if (digit(pos_)) return failed(start, "invalid number: leading zero");
    } else if (digit(pos_)) {
      while (digit(pos_)) ++pos_;
    } else {
      return failed(start, "invalid number: no digits");
    }
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      if (pos_ >= s_.size()) return failed(pos_, truncated());
      if (!digit(pos_)) return failed(start, "invalid number: no digits after '.'");
      while (digit(pos_)) ++pos_;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (pos_ >= s_.size()) return failed(pos_, truncated());
      if (!digit(pos_)) return failed(start, "invalid number: no digits in the exponent");
      while (digit(pos_)) ++pos_;
    }
    return true;
  }

  bool hex4(std::size_t at, unsigned* out) {
    unsigned v = 0;
    for (std::size_t i = 0; i < 4; ++i) {
      if (at + i >= s_.size()) return failed(at + i, truncated());
      const int h = hex_value(s_[at + i]);
      if (h < 0) return failed(at - 2, "invalid \\u escape (needs 4 hex digits)");
      v = v * 16 + static_cast<unsigned>(h);
    }
    *out = v;
    return true;
  }

  bool string() {
    const std::size_t open = pos_;
    ++pos_;
    const auto* p = reinterpret_cast<const unsigned char*>(s_.data());
    for (;;) {
      if (pos_ >= s_.size()) return failed(open, "unterminated string (truncated?)");
      const unsigned char c = p[pos_];
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "control character 0x%02x in a string (must be escaped)", c);
        return failed(pos_, buf);
      }
      if (c == '\\') {
        if (pos_ + 1 >= s_.size()) return failed(pos_ + 1, truncated());
        const char e = s_[pos_ + 1];
        if (e == 'u') {
          unsigned v = 0;
          if (!hex4(pos_ + 2, &v)) return false;
          if (v >= 0xDC00 && v <= 0xDFFF) return failed(pos_, "invalid \\u escape: lone low surrogate");
          if (v >= 0xD800 && v <= 0xDBFF) {
            const std::size_t next = pos_ + 6;
            if (next + 1 >= s_.size()) return failed(next, truncated());
            if (s_[next] != '\\' || s_[next + 1] != 'u') {
              return failed(pos_, "invalid \\u escape: high surrogate without a low one");
            }
            unsigned lo = 0;
            if (!hex4(next + 2, &lo)) return false;
            if (lo < 0xDC00 || lo > 0xDFFF) return failed(next, "invalid \\u escape: expected a low surrogate");
            pos_ = next + 6;
          } else {
            pos_ += 6;
          }
          continue;
        }
        if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
          pos_ += 2;
          continue;
        }
        // A reason must stay valid UTF-8 (it goes into dead-letter records and logs): a
        // non-printable escaped byte is named by its value, not copied (found by fuzz_decode_json).
        const auto ue = static_cast<unsigned char>(e);
        if (ue < 0x20 || ue >= 0x7F) return failed(pos_, "invalid escape: '\\' followed by " + describe(s_, pos_ + 1) + " in a string");
        return failed(pos_, "invalid escape '\\" + std::string(1, e) + "' in a string");
      }
      if (c < 0x80) {
        ++pos_;
        continue;
      }
      const std::size_t len = utf8_sequence_length(p + pos_, s_.size() - pos_);
      if (len == 0) return failed(pos_, "invalid UTF-8 in a string", JsonSyntaxError::Kind::kUtf8);
      pos_ += len;
    }
  }

  std::string_view s_;
  std::size_t max_depth_;
  std::size_t pos_ = 0;
  std::string stack_;  // '{' or '['; bounded by max_depth_
  JsonSyntaxError err_;
};

}  // namespace

std::optional<JsonSyntaxError> check_json(std::string_view text, std::size_t max_depth) {
  return Checker(text, max_depth).run();
}

void append_minified_json(std::string* out, std::string_view s) {
  out->reserve(out->size() + s.size());
  bool in_string = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      out->push_back(c);
      if (c == '\\' && i + 1 < s.size()) {
        out->push_back(s[++i]);
      } else if (c == '"') {
        in_string = false;
      }
    } else if (!is_ws(c)) {
      out->push_back(c);
      if (c == '"') in_string = true;
    }
  }
}

std::string_view trim_json_whitespace(std::string_view s) {
  while (!s.empty() && is_ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ws(s.back())) s.remove_suffix(1);
  return s;
}

bool is_json_number(std::string_view s) {
  std::size_t i = 0;
  const std::size_t n = s.size();
  auto digit = [&](std::size_t k) { return k < n && s[k] >= '0' && s[k] <= '9'; };
  if (i < n && s[i] == '-') ++i;
  if (!digit(i)) return false;
  if (s[i] == '0') {
    ++i;
  } else {
    while (digit(i)) ++i;
  }
  if (i < n && s[i] == '.') {
    ++i;
    if (!digit(i)) return false;
    while (digit(i)) ++i;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digit(i)) return false;
    while (digit(i)) ++i;
  }
  return i == n;
}

}  // namespace outpost::decode
