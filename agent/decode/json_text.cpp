#include "agent/decode/json_text.h"

#include <cstdio>
#include <cstring>

#include "agent/decode/json_check.h"

namespace outpost::decode {

void append_base64(std::string* out, std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  out->reserve(out->size() + (n + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const std::uint32_t v = (std::uint32_t{p[i]} << 16) | (std::uint32_t{p[i + 1]} << 8) | p[i + 2];
    const char quad[4] = {kAlphabet[v >> 18], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63],
                          kAlphabet[v & 63]};
    out->append(quad, 4);
  }
  if (n - i == 1) {
    const std::uint32_t v = std::uint32_t{p[i]} << 16;
    const char quad[4] = {kAlphabet[v >> 18], kAlphabet[(v >> 12) & 63], '=', '='};
    out->append(quad, 4);
  } else if (n - i == 2) {
    const std::uint32_t v = (std::uint32_t{p[i]} << 16) | (std::uint32_t{p[i + 1]} << 8);
    const char quad[4] = {kAlphabet[v >> 18], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63], '='};
    out->append(quad, 4);
  }
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  append_base64(&out, bytes);
  return out;
}

bool is_json(std::string_view text) { return !check_json(text, kJsonCheckMaxDepth).has_value(); }

void append_payload_as_json(std::string* out, std::string_view payload, bool compact) {
  std::string_view t = trim_json_whitespace(payload);
  if (!t.empty() && !check_json(t, kJsonCheckMaxDepth)) {
    if (compact) {
      append_minified_json(out, t);
    } else {
      out->append(t);
    }
    return;
  }
  append_json_string(out, payload);
}

}  // namespace outpost::decode
