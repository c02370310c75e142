// Internal to agent/decode: the concrete decoders and helpers they share.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "agent/decode/decoder.h"

namespace outpost::decode::internal {

// Buffers above this are given back after the payload that needed them (a stream of big
// payloads then pays an allocation per message; typical sensor messages never do).
inline constexpr std::size_t kRetainBytes = 256 * 1024;

std::unique_ptr<Decoder> make_json_decoder(StreamSpec spec);
std::unique_ptr<Decoder> make_csv_decoder(StreamSpec spec);
std::unique_ptr<Decoder> make_kv_decoder(StreamSpec spec);
std::unique_ptr<Decoder> make_raw_decoder(StreamSpec spec);

// "field 'site' (meta.site)" or "field 'temp'".
std::string field_label(const FieldSpec& f);

// At most 40 bytes of `s` (cut on a UTF-8 boundary, "..." appended), as a JSON string literal,
// so a reason never carries control bytes or invalid UTF-8.
std::string quoted_excerpt(std::string_view s);

DecodeError make_error(ErrorClass c, std::string reason, std::optional<std::size_t> offset = std::nullopt);

// "payload is not valid UTF-8 at byte N" if it is not.
std::optional<DecodeError> check_utf8(std::string_view payload);

// Text that names what a time format expects: "an RFC 3339 time", "a unix_ms number", "a time".
const char* time_expectation(TimeFormat f);

}  // namespace outpost::decode::internal
