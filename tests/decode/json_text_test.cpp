// JSON text helpers and dead-letter records: valid JSON for any bytes.
#include <doctest/doctest.h>

#include <simdjson.h>

#include <random>
#include <string>

#include "agent/decode/dead_letter.h"
#include "agent/decode/json_text.h"

using namespace outpost::decode;

namespace {

// Parses with simdjson (an independent strict parser, which also checks UTF-8).
bool parses(const std::string& json, simdjson::dom::parser& parser, simdjson::dom::element* out = nullptr) {
  simdjson::dom::element e;
  if (parser.parse(json).get(e) != simdjson::SUCCESS) return false;
  if (out) *out = e;
  return true;
}

std::string random_bytes(std::mt19937& rng, std::size_t max_len) {
  std::uniform_int_distribution<std::size_t> len(0, max_len);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> kind(0, 3);
  std::string s(len(rng), '\0');
  for (auto& c : s) {
    // Bias toward the interesting bytes: controls, quotes, backslashes, UTF-8 leads.
    switch (kind(rng)) {
      case 0: c = static_cast<char>(byte(rng) & 0x1F); break;
      case 1: c = "\"\\/{}[]:,"[byte(rng) % 9]; break;
      case 2: c = static_cast<char>(0x80 | (byte(rng) & 0x7F)); break;
      default: c = static_cast<char>(byte(rng)); break;
    }
  }
  return s;
}

}  // namespace

TEST_CASE("json_quote escapes quotes, backslashes and control characters") {
  CHECK(json_quote("plain") == "\"plain\"");
  CHECK(json_quote("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(json_quote("\n\r\t\b\f") == "\"\\n\\r\\t\\b\\f\"");
  CHECK(json_quote(std::string("\x00\x01\x1f", 3)) == "\"\\u0000\\u0001\\u001f\"");
  CHECK(json_quote("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") == "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
}

TEST_CASE("json_quote replaces invalid UTF-8 with U+FFFD") {
  CHECK(json_quote("a\xff" "b") == "\"a\xef\xbf\xbd" "b\"");
  CHECK(json_quote("\xc3") == "\"\xef\xbf\xbd\"");              // truncated sequence
  CHECK(json_quote("\xc0\xaf") == "\"\xef\xbf\xbd\xef\xbf\xbd\"");  // overlong
  CHECK(json_quote("\xed\xa0\x80") == "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");  // surrogate
}

TEST_CASE("is_valid_utf8 reports the offset of the first bad byte") {
  std::size_t at = 99;
  CHECK(is_valid_utf8("hello, w\xc3\xb6rld"));
  CHECK_FALSE(is_valid_utf8("0123456789ab\xff", &at));
  CHECK(at == 12);
  CHECK_FALSE(is_valid_utf8("\xf4\x90\x80\x80", &at));  // above U+10FFFF
  CHECK(at == 0);
  CHECK_FALSE(is_valid_utf8("abc\xe2\x82", &at));  // truncated at the end
  CHECK(at == 3);
}

TEST_CASE("base64 follows RFC 4648") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
  CHECK(base64_encode(std::string("\xff\x00\xfe", 3)) == "/wD+");
}

TEST_CASE("payload as JSON when it is JSON, else as a string") {
  std::string out;
  append_payload_as_json(&out, " {\"a\": [1, 2],\n \"b\": \"x y\"} \n");
  CHECK(out == "{\"a\":[1,2],\"b\":\"x y\"}");
  out.clear();
  append_payload_as_json(&out, "{\"a\": 1}", false);
  CHECK(out == "{\"a\": 1}");
  out.clear();
  append_payload_as_json(&out, "temp=21.5 hum=40");
  CHECK(out == "\"temp=21.5 hum=40\"");
  out.clear();
  append_payload_as_json(&out, "42");
  CHECK(out == "42");
  out.clear();
  append_payload_as_json(&out, "");
  CHECK(out == "\"\"");
  out.clear();
  append_payload_as_json(&out, "{\"a\":1");
  CHECK(out == "\"{\\\"a\\\":1\"");
  CHECK(is_json("[true,false,null,-0.5e3,\"\\u00e9\\ud83d\\ude00\"]"));
  CHECK_FALSE(is_json("[01]"));
  CHECK_FALSE(is_json("\"\\ud83d\""));
  CHECK_FALSE(is_json("{\"a\":1} {\"b\":2}"));
}

TEST_CASE("dead-letter record keeps text payloads as strings and binary ones as base64") {
  simdjson::dom::parser parser;
  DeadLetter d;
  d.payload = "{\"temp\":\"abc\"}";
  d.reason = "field 'temp': expected double, got string \"abc\"";
  d.source = "mqtt://broker:1883/site/1/env";
  d.stream = "env";
  d.error_class = "field_type";
  d.offset = 9;
  const std::string json = dead_letter_json(d);
  simdjson::dom::element e;
  REQUIRE(parses(json, parser, &e));
  CHECK(std::string(e["reason"].get_string().value()) == d.reason);
  CHECK(std::string(e["source"].get_string().value()) == d.source);
  CHECK(std::string(e["stream"].get_string().value()) == "env");
  CHECK(std::string(e["class"].get_string().value()) == "field_type");
  CHECK(std::string(e["encoding"].get_string().value()) == "utf-8");
  CHECK(std::string(e["payload"].get_string().value()) == d.payload);
  CHECK(e["offset"].get_uint64().value() == 9);
  CHECK(e["bytes"].get_uint64().value() == d.payload.size());

  const std::string binary("\x01\xff\x00\x80 raw", 8);
  DeadLetter b;
  b.payload = binary;
  b.reason = "payload is not valid UTF-8 at byte 1";
  b.source = "/dev/ttyUSB0";
  const std::string bjson = dead_letter_json(b);
  REQUIRE(parses(bjson, parser, &e));
  CHECK(std::string(e["encoding"].get_string().value()) == "base64");
  CHECK(std::string(e["payload"].get_string().value()) == base64_encode(binary));
  CHECK(e["offset"].is_null());
  CHECK(e["bytes"].get_uint64().value() == 8);
}

TEST_CASE("dead-letter record of an oversized payload is cut, marked truncated and still valid") {
  simdjson::dom::parser parser;
  std::string big(5000, 'x');
  big[3] = '\xc3';  // a two-byte character across the cut at 4 would be split
  big[4] = '\xa9';
  DeadLetter d;
  d.payload = big;
  d.reason = "payload of 5000 bytes is over the limit";
  d.source = "s";
  const std::string json = dead_letter_json(d, 4);
  simdjson::dom::element e;
  REQUIRE(parses(json, parser, &e));
  CHECK(e["truncated"].get_bool().value());
  CHECK(e["bytes"].get_uint64().value() == 5000);
  CHECK(std::string(e["payload"].get_string().value()) == "xxx");
}

TEST_CASE("dead-letter record is valid JSON for arbitrary bytes in every argument (fixed seed)") {
  std::mt19937 rng(20240501);
  simdjson::dom::parser parser;
  for (int i = 0; i < 3000; ++i) {
    const std::string payload = random_bytes(rng, 200);
    const std::string reason = random_bytes(rng, 40);
    const std::string source = random_bytes(rng, 20);
    DeadLetter d;
    d.payload = payload;
    d.reason = reason;
    d.source = source;
    d.offset = i % 3 == 0 ? std::optional<std::size_t>() : std::optional<std::size_t>(i);
    const std::string json = dead_letter_json(d);
    simdjson::dom::element e;
    REQUIRE_MESSAGE(parses(json, parser, &e), json);
    // Nothing is lost: text comes back byte for byte, binary as its base64.
    const std::string_view kept = e["payload"].get_string().value();
    if (is_valid_utf8(payload)) {
      CHECK(kept == payload);
    } else {
      CHECK(kept == base64_encode(payload));
    }
    // The string helpers alone also always give valid JSON.
    REQUIRE(parses(json_quote(payload), parser));
    std::string as_json;
    append_payload_as_json(&as_json, payload);
    REQUIRE_MESSAGE(parses(as_json, parser), as_json);
  }
}
