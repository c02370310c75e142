// JSON text helpers shared by the decoders, dead letters and the CLI (`outpost log cat`).
// Plain functions, no state, safe from any thread. Output is always valid JSON and valid
// UTF-8, whatever bytes come in.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace outpost::decode {

// Strict UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF). On failure and if
// `error_offset` is given, it gets the byte offset of the first bad sequence.
bool is_valid_utf8(std::string_view s, std::size_t* error_offset = nullptr);

// Appends `s` as a JSON string literal, quotes included: escapes '"', '\\' and control
// characters (\n \r \t \b \f, others as \u00XX); bytes that are not valid UTF-8 become U+FFFD.
void append_json_string(std::string* out, std::string_view s);
// The same, returned: json_quote("a\"b") == "\"a\\\"b\"".
std::string json_quote(std::string_view s);

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
