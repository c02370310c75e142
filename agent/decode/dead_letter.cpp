#include "agent/decode/dead_letter.h"

#include "agent/decode/json_check.h"
#include "agent/decode/json_text.h"

namespace outpost::decode {

void append_dead_letter_json(std::string* out, const DeadLetter& d, std::size_t max_payload_bytes) {
  std::string_view kept = d.payload;
  const bool truncated = kept.size() > max_payload_bytes;
  const bool text = is_valid_utf8(d.payload);
  if (truncated) {
    std::size_t cut = max_payload_bytes;
    // Text is cut on a character boundary so the kept part is still valid UTF-8.
    if (text) {
      while (cut > 0 && (static_cast<unsigned char>(d.payload[cut]) & 0xC0) == 0x80) --cut;
    }
    kept = d.payload.substr(0, cut);
  }
  out->append("{\"reason\":");
  append_json_string(out, d.reason);
  if (!d.error_class.empty()) {
    out->append(",\"class\":");
    append_json_string(out, d.error_class);
  }
  out->append(",\"source\":");
  append_json_string(out, d.source);
  if (!d.stream.empty()) {
    out->append(",\"stream\":");
    append_json_string(out, d.stream);
  }
  out->append(",\"offset\":");
  if (d.offset) {
    out->append(std::to_string(*d.offset));
  } else {
    out->append("null");
  }
  out->append(",\"bytes\":");
  out->append(std::to_string(d.payload.size()));
  if (text) {
    out->append(",\"encoding\":\"utf-8\",\"payload\":");
    append_json_string(out, kept);
  } else {
    out->append(",\"encoding\":\"base64\",\"payload\":\"");
    append_base64(out, kept);
    out->push_back('"');
  }
  if (truncated) out->append(",\"truncated\":true");
  out->push_back('}');
}

std::string dead_letter_json(const DeadLetter& d, std::size_t max_payload_bytes) {
  std::string out;
  append_dead_letter_json(&out, d, max_payload_bytes);
  return out;
}

DeadLetter dead_letter_for(const DecodeError& e, std::string_view payload, std::string_view source,
                           std::string_view stream) {
  DeadLetter d;
  d.payload = payload;
  d.reason = e.reason;
  d.source = source;
  d.stream = stream;
  d.error_class = error_class_name(e.error_class);
  d.offset = e.offset;
  return d;
}

}  // namespace outpost::decode
