// JSON text helpers shared by the decoders, dead letters and the CLI (`outpost log cat`).
// Plain functions, no state, safe from any thread. Output is always valid JSON and valid
// UTF-8, whatever bytes come in.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/json_string.h"

namespace outpost::decode {

// The JSON string and UTF-8 helpers live in base/ (one definition for every module).
using base::append_json_string;
using base::is_valid_utf8;
using base::json_quote;

// Standard base64 (RFC 4648, with padding).
void append_base64(std::string* out, std::string_view bytes);
std::string base64_encode(std::string_view bytes);

// True if `text` (surrounding whitespace allowed) is one complete JSON value.
bool is_json(std::string_view text);

// "Payload as JSON when it is JSON, else a string": appends `payload` itself (trimmed of
// surrounding whitespace and, when `compact`, minified) if it is a JSON value, else the payload
// as a JSON string (append_json_string: invalid UTF-8 shown as U+FFFD). For exact bytes of a
// non-UTF-8 payload use append_base64.
void append_payload_as_json(std::string* out, std::string_view payload, bool compact = true);

}  // namespace outpost::decode
