// The runtime's payload decoding: what becomes a record, and the reason for what does not.
#include <doctest/doctest.h>

#include <string>

#include "agent/runtime/stream_codec.h"

using namespace outpost::runtime;

namespace {

StreamCodecSpec json_spec(TimeFormat tf = TimeFormat::kAuto) {
  StreamCodecSpec s;
  s.format = PayloadFormat::kJson;
  s.key_field = "device";
  s.time_field = "ts";
  s.time_format = tf;
  return s;
}

}  // namespace

TEST_CASE("JsonPayloadGivesKeyAndEventTimeAndKeepsTheBytes") {
  StreamCodec c(json_spec(TimeFormat::kUnixMs));
  DecodedRecord r;
  std::string why;
  std::string p = R"({"device":"pump-3","ts":1700000000123,"temp":21.5})";
  REQUIRE(c.decode(p, &r, &why));
  CHECK(r.payload == p);
  REQUIRE(r.key);
  CHECK(*r.key == "pump-3");
  CHECK(r.event_time_ms == 1700000000123);
}

TEST_CASE("EveryTimeFormatConvertsToMilliseconds") {
  struct Case { TimeFormat f; std::string ts; std::int64_t ms; };
  for (const auto& k : {Case{TimeFormat::kUnixS, "1700000000", 1700000000000},
                        Case{TimeFormat::kUnixS, "1700000000.25", 1700000000250},
                        Case{TimeFormat::kUnixUs, "1700000000123456", 1700000000123},
                        Case{TimeFormat::kUnixNs, "1700000000123456789", 1700000000123},
                        Case{TimeFormat::kAuto, "1700000000", 1700000000000},
                        Case{TimeFormat::kAuto, "1700000000123", 1700000000123},
                        Case{TimeFormat::kRfc3339, "\"2023-11-14T22:13:20.123Z\"", 1700000000123},
                        Case{TimeFormat::kRfc3339, "\"2023-11-15T00:13:20+02:00\"", 1700000000000},
                        Case{TimeFormat::kAuto, "\"2023-11-14T22:13:20Z\"", 1700000000000}}) {
    StreamCodec c(json_spec(k.f));
    DecodedRecord r;
    std::string why;
    std::string p = "{\"device\":\"d\",\"ts\":" + k.ts + "}";
    REQUIRE_MESSAGE(c.decode(p, &r, &why), p << ": " << why);
    CHECK_MESSAGE(r.event_time_ms == k.ms, p);
  }
}

TEST_CASE("NestedFieldsAndNonStringKeys") {
  StreamCodecSpec s;
  s.key_field = "meta.id";
  s.time_field = "meta.at";
  StreamCodec c(s);
  DecodedRecord r;
  std::string why;
  REQUIRE(c.decode(R"({"meta":{"id":42,"at":1700000000}})", &r, &why));
  CHECK(*r.key == "42");
  CHECK(r.event_time_ms == 1700000000000);
}

TEST_CASE("RejectionsSayWhatIsWrong") {
  StreamCodec c(json_spec(TimeFormat::kUnixMs));
  DecodedRecord r;
  std::string why;
  CHECK_FALSE(c.decode("{\"device\":\"d\",", &r, &why));  // truncated
  CHECK(why.rfind("invalid JSON", 0) == 0);
  CHECK_FALSE(c.decode("[1,2,3]", &r, &why));
  CHECK(why == "JSON payload is not an object");
  CHECK_FALSE(c.decode(R"({"device":"d"})", &r, &why));
  CHECK(why == "field 'ts' (event time) is missing");
  CHECK_FALSE(c.decode(R"({"device":"d","ts":"soon"})", &r, &why));
  CHECK(why == "field 'ts': expected a time, got string \"soon\"");
  CHECK_FALSE(c.decode(R"({"device":"d","ts":true})", &r, &why));
  CHECK(why == "field 'ts': expected a time, got true");
  CHECK_FALSE(c.decode("", &r, &why));
  CHECK(why.rfind("invalid JSON", 0) == 0);
  CHECK_FALSE(c.decode("{\"device\":\"\xff\xfe\",\"ts\":1}", &r, &why));  // not UTF-8
  CHECK(why.rfind("invalid JSON", 0) == 0);
}

TEST_CASE("HugeAndDeepPayloadsAreRejectedNotCrashed") {
  StreamCodecSpec s = json_spec();
  s.max_payload_bytes = 1 << 20;
  StreamCodec c(s);
  DecodedRecord r;
  std::string why;
  std::string huge(2 << 20, 'x');
  CHECK_FALSE(c.decode(huge, &r, &why));
  CHECK(why == "payload of 2097152 bytes is over the stream's limit of 1048576");
  std::string deep(100000, '[');
  CHECK_FALSE(c.decode(deep, &r, &why));
  CHECK_FALSE(why.empty());
  std::string big = "{\"device\":\"d\",\"ts\":1,\"blob\":\"" + std::string(900000, 'a') + "\"}";
  CHECK(c.decode(big, &r, &why));
}

TEST_CASE("RawStreamsKeepAnyBytes") {
  StreamCodecSpec s;
  s.format = PayloadFormat::kRaw;
  StreamCodec c(s);
  DecodedRecord r;
  std::string why;
  std::string bytes("\x00\xff garbage\n", 11);
  REQUIRE(c.decode(bytes, &r, &why));
  CHECK(r.payload == bytes);
  CHECK_FALSE(r.key);
  CHECK_FALSE(r.event_time_ms);
}

TEST_CASE("DeclaredFieldsAreTypeCheckedWithTheFieldNamed") {
  StreamCodecSpec s;
  s.fields = {{"temp", FieldType::kDouble, true}, {"count", FieldType::kInt, false}, {"ok", FieldType::kBool, false},
              {"site", FieldType::kString, false}, {"at", FieldType::kTimestamp, false}};
  StreamCodec c(s);
  DecodedRecord r;
  std::string why;
  CHECK(c.decode(R"({"temp":21.5,"count":3,"ok":true,"site":"n","at":"2024-05-01T12:00:00Z"})", &r, &why));
  CHECK(c.decode(R"({"temp":21})", &r, &why));  // an int is a fine double
  CHECK_FALSE(c.decode(R"({"count":3})", &r, &why));
  CHECK(why == "field 'temp' is missing");
  CHECK_FALSE(c.decode(R"({"temp":"abc"})", &r, &why));
  CHECK(why == "field 'temp': expected double, got string \"abc\"");
  CHECK_FALSE(c.decode(R"({"temp":1,"count":2.5})", &r, &why));
  CHECK(why == "field 'count': expected int, got number 2.5");
  CHECK_FALSE(c.decode(R"({"temp":1,"ok":"yes"})", &r, &why));
  CHECK(why == "field 'ok': expected bool, got string \"yes\"");
  CHECK_FALSE(c.decode(R"({"temp":1,"at":"yesterday"})", &r, &why));
  CHECK(why == "field 'at': expected timestamp, got string \"yesterday\"");
}

TEST_CASE("CsvLinesBecomeTypedJsonObjects") {
  StreamCodecSpec s;
  s.format = PayloadFormat::kCsv;
  s.csv_columns = {"meter", "t", "flow", "note"};
  s.fields = {{"flow", FieldType::kDouble, true}};
  s.key_field = "meter";
  s.time_field = "t";
  s.time_format = TimeFormat::kUnixS;
  StreamCodec c(s);
  DecodedRecord r;
  std::string why;
  REQUIRE_MESSAGE(c.decode("m-7,1700000000,12.5,\"says \"\"hi\"\", ok\"\r\n", &r, &why), why);
  CHECK(r.payload == R"({"meter":"m-7","t":1700000000,"flow":12.5,"note":"says \"hi\", ok"})");
  CHECK(*r.key == "m-7");
  CHECK(r.event_time_ms == 1700000000000);
  CHECK_FALSE(c.decode("m-7,1700000000,12.5", &r, &why));
  CHECK(why == "csv: 3 columns, expected 4");
  CHECK_FALSE(c.decode("m-7,1700000000,n/a,x", &r, &why));
  CHECK(why == "field 'flow': expected double, got string \"n/a\"");
  CHECK_FALSE(c.decode("m-7,\"1700000000,1,x", &r, &why));
  CHECK(why == "csv: unterminated quote");
}

TEST_CASE("KeyValuePairsBecomeJsonObjects") {
  StreamCodecSpec s;
  s.format = PayloadFormat::kKv;
  s.fields = {{"temp", FieldType::kDouble, true}, {"ok", FieldType::kBool, false}};
  s.key_field = "id";
  StreamCodec c(s);
  DecodedRecord r;
  std::string why;
  REQUIRE_MESSAGE(c.decode("id=pump-1 temp=21.5, ok=1; msg=\"running hot\"", &r, &why), why);
  CHECK(r.payload == R"({"id":"pump-1","temp":21.5,"ok":true,"msg":"running hot"})");
  CHECK(*r.key == "pump-1");
  CHECK_FALSE(c.decode("id=pump-1 temp", &r, &why));
  CHECK(why == "kv: 'temp' is not key=value");
  CHECK_FALSE(c.decode("   ", &r, &why));
  CHECK(why == "kv: no key=value pairs");
  CHECK_FALSE(c.decode("id=p msg=\"open", &r, &why));
  CHECK(why == "kv: unterminated quote in the value of 'msg'");
}
