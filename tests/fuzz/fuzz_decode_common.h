// Shared by the fuzz_decode_* entry points: the first bytes of the input pick the stream options,
// so one corpus explores configurations as well as payloads; the rest is the payload.
// Invariants checked (abort on violation, which libFuzzer reports):
//   - a decoded csv/kv payload is valid JSON; a decoded json payload is valid JSON,
//   - every error has a reason, and its dead-letter record is valid JSON,
//   - counters add up.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "agent/decode/dead_letter.h"
#include "agent/decode/decoder.h"
#include "agent/decode/json_text.h"

namespace outpost::decode::fuzz {

inline void require(bool ok) {
  if (!ok) std::abort();
}

inline TimeFormat time_format_of(std::uint8_t b) { return static_cast<TimeFormat>(b % 6); }
inline FieldType field_type_of(std::uint8_t b) { return static_cast<FieldType>(b % 5); }

// Runs one payload through a decoder built from `spec` and checks the invariants.
inline void run(StreamSpec spec, std::string_view payload) {
  auto made = Decoder::create(std::move(spec));
  if (!made.is_ok()) return;  // an invalid option combination: validate_spec said why
  Decoder& d = **made;
  for (int round = 0; round < 2; ++round) {  // twice: reuse of buffers must not change anything
    DecodeResult r = d.decode(payload);
    if (r.is_decoded()) {
      if (d.spec().format != Format::kRaw) require(is_json(r.decoded().payload));
    } else if (r.is_error()) {
      require(!r.error().reason.empty());
      require(is_valid_utf8(r.error().reason));
      const std::string dl = dead_letter_json(dead_letter_for(r.error(), payload, "fuzz", d.spec().name));
      require(is_json(dl));
    }
  }
  const DecodeCounters c = d.counters();
  require(c.decoded + c.failed + c.skipped == 2);
}

}  // namespace outpost::decode::fuzz
