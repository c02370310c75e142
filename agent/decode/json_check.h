// Internal to agent/decode: a small strict JSON checker that says WHERE a document is wrong
// (simdjson only says that it is). Used on the error path of the json decoder and by the text
// helpers; allocation is bounded by the depth limit.
#pragma once

#include "base/json_string.h"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace outpost::decode {

inline constexpr std::size_t kJsonCheckMaxDepth = 1024;

struct JsonSyntaxError {
  enum class Kind { kSyntax, kUtf8, kDepth };
  Kind kind = Kind::kSyntax;
  std::size_t offset = 0;  // byte offset into the checked text
  std::string message;     // "expected ',' or '}' after an object member, got 'x'"
};

// nullopt if `text` is exactly one JSON value (RFC 8259, surrounding whitespace allowed, strings
// valid UTF-8 with well-formed \u escapes) nested at most `max_depth` arrays/objects deep.
std::optional<JsonSyntaxError> check_json(std::string_view text, std::size_t max_depth);

// Appends a checked JSON text without insignificant whitespace.
void append_minified_json(std::string* out, std::string_view checked_json);

// Trims JSON whitespace (space, tab, CR, LF) from both ends.
std::string_view trim_json_whitespace(std::string_view s);

using base::utf8_sequence_length;  // base/json_string.h

// True if `s` is a JSON number literal (-?(0|[1-9]d*)(.d+)?([eE][+-]?d+)?).
bool is_json_number(std::string_view s);

}  // namespace outpost::decode
