// JSON string literals and UTF-8 checks: the one definition the decoders, the status views,
// the CLI and sync's gap records share. Output is always valid JSON and valid UTF-8.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace outpost::base {

// Length of the valid UTF-8 sequence starting at p (n bytes available), 0 if invalid: no
// overlong forms, no surrogates, nothing above U+10FFFF.
std::size_t utf8_sequence_length(const unsigned char* p, std::size_t n);

// Strict UTF-8. On failure and if `error_offset` is given, it gets the byte offset of the first
// bad sequence.
bool is_valid_utf8(std::string_view s, std::size_t* error_offset = nullptr);

// Appends `s` as a JSON string literal, quotes included: escapes '"', '\\' and control
// characters (\n \r \t \b \f, others as \u00XX); bytes that are not valid UTF-8 become U+FFFD.
void append_json_string(std::string* out, std::string_view s);
// The same, returned: json_quote("a\"b") == "\"a\\\"b\"".
std::string json_quote(std::string_view s);

}  // namespace outpost::base
