// Dead-letter records: what is stored in a stream's dead-letter stream for a payload that did
// not decode (or that a source flagged malformed). Nothing is dropped silently: the original
// bytes are kept with why and where.
//
// The record payload is one JSON object:
//   {"reason":"field 'temp': expected double, got string \"abc\"","class":"field_type",
//    "source":"mqtt://broker/site/1/env","stream":"env","offset":17,"bytes":42,
//    "encoding":"utf-8","payload":"{\"temp\":\"abc\"}"}
//   - payload: the original bytes as a JSON string when they are valid UTF-8 ("encoding":
//     "utf-8"), else base64 ("encoding":"base64") so every byte survives.
//   - offset: byte offset of the problem in the payload, or null when unknown.
//   - bytes: the original payload size. A payload longer than max_payload_bytes keeps its first
//     max_payload_bytes (cut on a character boundary for text) and says "truncated":true.
//   - stream / class are omitted when empty.
// Always valid JSON, for any bytes in any argument.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "agent/decode/decoder.h"

namespace outpost::decode {

struct DeadLetter {
  std::string_view payload;      // the original bytes
  std::string_view reason;       // DecodeError::reason, or the source's malformed reason
  std::string_view source;       // MQTT topic (with broker) or serial device
  std::string_view stream;       // the stream it was meant for; may be empty
  std::string_view error_class;  // error_class_name(), "source", ...; may be empty
  std::optional<std::size_t> offset;
};

// Kept whole below this (and always at least the whole of an accepted-size payload).
inline constexpr std::size_t kDeadLetterMaxPayloadBytes = 1 << 20;

// Appends the record JSON to *out (which is not cleared: reuse a buffer on the hot path).
void append_dead_letter_json(std::string* out, const DeadLetter& d,
                             std::size_t max_payload_bytes = kDeadLetterMaxPayloadBytes);
std::string dead_letter_json(const DeadLetter& d,
                             std::size_t max_payload_bytes = kDeadLetterMaxPayloadBytes);

// Convenience: the dead letter for a DecodeError of a stream.
DeadLetter dead_letter_for(const DecodeError& e, std::string_view payload, std::string_view source,
                           std::string_view stream);

}  // namespace outpost::decode
