// The decoders on good and bad payloads: what is stored, the key, the event time, and for bad
// input a clear reason, the byte offset and a counter.
#include <doctest/doctest.h>

#include <simdjson.h>

#include <chrono>
#include <random>
#include <string>

#include "agent/decode/decoder.h"

using namespace outpost::decode;

namespace {

std::unique_ptr<Decoder> make(StreamSpec spec) {
  if (spec.name.empty()) spec.name = "env";
  auto d = Decoder::create(std::move(spec));
  REQUIRE_MESSAGE(d.is_ok(), d.status().to_string());
  return std::move(d).value();
}

FieldSpec field(std::string name, FieldType type, bool required = false, std::string path = "") {
  FieldSpec f;
  f.name = std::move(name);
  f.type = type;
  f.required = required;
  f.path = std::move(path);
  return f;
}

StreamSpec json_spec() {
  StreamSpec s;
  s.format = Format::kJson;
  s.fields = {field("temp", FieldType::kDouble, true), field("count", FieldType::kInt),
              field("site", FieldType::kString, false, "meta.site"), field("ok", FieldType::kBool),
              field("seen", FieldType::kTimestamp)};
  s.time = TimeSpec{"ts", TimeFormat::kAuto, false};
  s.key_field = "sensor";
  return s;
}

StreamSpec csv_spec() {
  StreamSpec s;
  s.format = Format::kCsv;
  s.csv.columns = {"ts", "sensor", "temp", "note"};
  s.fields = {field("temp", FieldType::kDouble, true), field("note", FieldType::kString)};
  s.time = TimeSpec{"ts", TimeFormat::kUnixS, false};
  s.key_field = "sensor";
  return s;
}

StreamSpec kv_spec() {
  StreamSpec s;
  s.format = Format::kKv;
  s.fields = {field("temp", FieldType::kDouble, true), field("hum", FieldType::kInt),
              field("door", FieldType::kBool), field("site", FieldType::kString)};
  s.time = TimeSpec{"ts", TimeFormat::kUnixMs, false};
  s.key_field = "id";
  return s;
}

// Asserts the payload is valid JSON (what queries will read).
void check_json(std::string_view text) {
  simdjson::dom::parser p;
  simdjson::padded_string ps(text);
  simdjson::dom::element e;
  CHECK_MESSAGE(p.parse(ps).get(e) == simdjson::SUCCESS, std::string(text));
}

std::string reason_of(Decoder& d, std::string_view payload) {
  DecodeResult r = d.decode(payload);
  REQUIRE_MESSAGE(r.is_error(), "decoded: ", std::string(payload));
  return r.error().reason;
}

}  // namespace

// ---------------------------------------------------------------- json

TEST_CASE("json: a good payload is stored as sent, with key and event time") {
  auto d = make(json_spec());
  const std::string p =
      "{\"ts\":1700000000.123,\"sensor\":\"s-1\",\"temp\":21.5,\"count\":3,\"meta\":{\"site\":\"north\"},"
      "\"ok\":true,\"seen\":\"2024-05-01T12:00:00Z\"}";
  DecodeResult r = d->decode(p);
  REQUIRE(r.is_decoded());
  CHECK(r.decoded().payload == p);
  REQUIRE(r.decoded().key);
  CHECK(*r.decoded().key == "s-1");
  CHECK(r.decoded().event_time_ms == 1700000000123);
  CHECK(d->counters().decoded == 1);
  CHECK(d->counters().failed == 0);
}

TEST_CASE("json: surrounding whitespace (a serial line's CRLF) is not stored") {
  auto d = make(json_spec());
  DecodeResult r = d->decode("  {\"ts\":1700000000,\"temp\":1}\r\n");
  REQUIRE(r.is_decoded());
  CHECK(r.decoded().payload == "{\"ts\":1700000000,\"temp\":1}");
}

TEST_CASE("json: optional fields may be absent or null; a required one may not") {
  auto d = make(json_spec());
  CHECK(d->decode("{\"ts\":1700000000,\"temp\":1,\"count\":null}").is_decoded());
  CHECK(reason_of(*d, "{\"ts\":1700000000,\"count\":1}") == "field 'temp' is missing");
  CHECK(reason_of(*d, "{\"ts\":1700000000,\"temp\":null}") == "field 'temp' is missing");
  CHECK(d->counters().failed_by_class[static_cast<int>(ErrorClass::kMissingField)] == 2);
}

TEST_CASE("json: every declared type is checked, naming the field and what it got") {
  auto d = make(json_spec());
  CHECK(reason_of(*d, R"({"ts":1700000000,"temp":"abc"})") == "field 'temp': expected double, got string \"abc\"");
  CHECK(reason_of(*d, R"({"ts":1700000000,"temp":1,"count":3.5})") == "field 'count': expected int, got number 3.5");
  CHECK(reason_of(*d, R"({"ts":1700000000,"temp":1,"count":"3"})") == "field 'count': expected int, got string \"3\"");
  CHECK(reason_of(*d, R"({"ts":1700000000,"temp":1,"meta":{"site":7}})") ==
        "field 'site' (meta.site): expected string, got number 7");
  CHECK(reason_of(*d, R"({"ts":1700000000,"temp":1,"ok":"yes"})") == "field 'ok': expected bool, got string \"yes\"");
  CHECK(reason_of(*d, R"({"ts":1700000000,"temp":1,"seen":"soon"})") ==
        "field 'seen': expected a timestamp (a time (unix number or RFC 3339)), got string \"soon\"");
  CHECK(reason_of(*d, R"({"ts":1700000000,"temp":[1,2]})") == "field 'temp': expected double, got array [1,2]");
  CHECK(reason_of(*d, R"({"ts":1700000000,"temp":{"v":1}})") == "field 'temp': expected double, got object {\"v\":1}");
  // Accepted forms: an int for a double, an integral number for an int, a number timestamp.
  CHECK(d->decode(R"({"ts":1700000000,"temp":21,"count":3.0,"seen":1700000000})").is_decoded());
  CHECK(d->counters().failed_by_class[static_cast<int>(ErrorClass::kFieldType)] == 8);
}

TEST_CASE("json: a long bad value is cut in the reason and never carries raw control bytes") {
  auto d = make(json_spec());
  const std::string reason = reason_of(*d, "{\"ts\":1,\"temp\":\"" + std::string(100, 'x') + "\\n\"}");
  CHECK(reason == "field 'temp': expected double, got string \"" + std::string(40, 'x') + "...\"");
}

TEST_CASE("json: nested paths walk objects and arrays") {
  StreamSpec s;
  s.fields = {field("v0", FieldType::kDouble, true, "values.0"), field("deep", FieldType::kString, true, "a.b.c")};
  s.key_field = "meta.id";
  s.time = TimeSpec{"meta.t", TimeFormat::kUnixMs, false};
  auto d = make(s);
  DecodeResult r = d->decode(R"({"values":[1.5,2],"a":{"b":{"c":"x"}},"meta":{"id":42,"t":1700000000123}})");
  REQUIRE(r.is_decoded());
  CHECK(*r.decoded().key == "42");
  CHECK(r.decoded().event_time_ms == 1700000000123);
  CHECK(reason_of(*d, R"({"values":[],"a":{"b":{"c":"x"}},"meta":{"t":1}})") == "field 'v0' (values.0) is missing");
  CHECK(reason_of(*d, R"({"values":[1],"a":{"b":"flat"},"meta":{"t":1}})") == "field 'deep' (a.b.c) is missing");
}

// The daemon declares json fields the way the config writes them: the name is the dotted path
// (plan_from_config sets path = name), also for a plain top-level name. (Carried over from the
// runtime's former codec tests.)
TEST_CASE("json: fields declared with path = name read top-level and nested members alike") {
  StreamSpec s;
  s.fields = {field("temp", FieldType::kDouble, true, "temp"), field("meta.site", FieldType::kString, true, "meta.site"),
              field("at", FieldType::kTimestamp, false, "at")};
  s.key_field = "meta.id";
  s.time = TimeSpec{"meta.t", TimeFormat::kAuto, false};
  auto d = make(s);
  const std::string p = R"({"temp":21,"meta":{"site":"north","id":42,"t":"2023-11-15T00:13:20+02:00"},"at":1700000000})";
  DecodeResult r = d->decode(p);
  REQUIRE_MESSAGE(r.is_decoded(), (r.is_error() ? r.error().reason : std::string()));
  CHECK(r.decoded().payload == p);  // stored as received
  CHECK(*r.decoded().key == "42");
  CHECK(r.decoded().event_time_ms == 1700000000000);
  CHECK(reason_of(*d, R"({"temp":"abc","meta":{"site":"n","t":1}})") == "field 'temp': expected double, got string \"abc\"");
  CHECK(reason_of(*d, R"({"temp":1,"meta":{"t":1}})") == "field 'meta.site' is missing");
  CHECK(reason_of(*d, R"({"temp":1,"meta":{"site":"n"}})") == "event-time field 'meta.t' is missing");
}

TEST_CASE("json: key is any scalar rendered as text; missing or null means no key") {
  StreamSpec s;
  s.key_field = "k";
  auto d = make(s);
  auto key = [&](const std::string& p) -> std::string {
    DecodeResult r = d->decode(p);
    REQUIRE(r.is_decoded());
    return r.decoded().key ? std::string(*r.decoded().key) : std::string("<none>");
  };
  CHECK(key(R"({"k":"abc"})") == "abc");
  CHECK(key(R"({"k":17})") == "17");
  CHECK(key(R"({"k":-3})") == "-3");
  CHECK(key(R"({"k":18446744073709551615})") == "18446744073709551615");
  CHECK(key(R"({"k":2.5})") == "2.5");
  CHECK(key(R"({"k":true})") == "true");
  CHECK(key(R"({"k":null})") == "<none>");
  CHECK(key(R"({"x":1})") == "<none>");
  CHECK(reason_of(*d, R"({"k":[1]})") == "key field 'k': expected a scalar, got array [1]");
}

TEST_CASE("json: event time in every format") {
  auto time_of = [](TimeFormat f, const std::string& value) -> std::optional<std::int64_t> {
    StreamSpec s;
    s.time = TimeSpec{"t", f, false};
    auto d = make(s);
    DecodeResult r = d->decode("{\"t\":" + value + "}");
    if (!r.is_decoded()) return std::nullopt;
    return r.decoded().event_time_ms;
  };
  CHECK(time_of(TimeFormat::kUnixS, "1700000000") == 1700000000000);
  CHECK(time_of(TimeFormat::kUnixS, "1700000000.123") == 1700000000123);
  CHECK(time_of(TimeFormat::kUnixS, "\"1700000000.5\"") == 1700000000500);
  CHECK(time_of(TimeFormat::kUnixMs, "1700000000123") == 1700000000123);
  CHECK(time_of(TimeFormat::kUnixUs, "1700000000123456") == 1700000000123);
  CHECK(time_of(TimeFormat::kUnixNs, "1700000000123456789") == 1700000000123);
  CHECK(time_of(TimeFormat::kUnixNs, "17000000001234567890") == 17000000001234);  // beyond int64: uint64
  CHECK(time_of(TimeFormat::kRfc3339, "\"2024-05-01T14:00:00.250+02:00\"") == 1714564800250);
  CHECK(time_of(TimeFormat::kAuto, "1700000000123") == 1700000000123);
  CHECK(time_of(TimeFormat::kAuto, "\"2024-05-01T12:00:00Z\"") == 1714564800000);
  CHECK(time_of(TimeFormat::kAuto, "\"1700000000\"") == 1700000000000);
  CHECK_FALSE(time_of(TimeFormat::kRfc3339, "1700000000"));
  CHECK_FALSE(time_of(TimeFormat::kUnixS, "\"2024-05-01T12:00:00Z\""));
  CHECK_FALSE(time_of(TimeFormat::kAuto, "true"));
  CHECK_FALSE(time_of(TimeFormat::kAuto, "\"2024-05-01T12:00:00\""));
}

TEST_CASE("json: event-time problems are named") {
  StreamSpec s;
  s.time = TimeSpec{"ts", TimeFormat::kRfc3339, false};
  auto d = make(s);
  CHECK(reason_of(*d, R"({"x":1})") == "event-time field 'ts' is missing");
  CHECK(reason_of(*d, R"({"ts":"yesterday"})") ==
        "event-time field 'ts': expected an RFC 3339 time, got string \"yesterday\"");
  CHECK(reason_of(*d, R"({"ts":1700000000})") == "event-time field 'ts': expected an RFC 3339 time, got number 1700000000");
  CHECK(d->counters().failed_by_class[static_cast<int>(ErrorClass::kTime)] == 2);
  s.time->fallback_to_ingest_time = true;
  auto fallback = make(s);
  DecodeResult r = fallback->decode(R"({"x":1})");
  REQUIRE(r.is_decoded());
  CHECK_FALSE(r.decoded().event_time_ms);
}

TEST_CASE("json: no time spec means ingest time (no event time)") {
  auto d = make(StreamSpec{});
  DecodeResult r = d->decode(R"({"ts":1700000000})");
  REQUIRE(r.is_decoded());
  CHECK_FALSE(r.decoded().event_time_ms);
  CHECK_FALSE(r.decoded().key);
}

TEST_CASE("json: any JSON value is accepted when nothing is declared; an object is needed otherwise") {
  auto plain = make(StreamSpec{});
  CHECK(plain->decode("[1,2,3]").is_decoded());
  CHECK(plain->decode("21.5").is_decoded());
  CHECK(plain->decode("\"text\"").is_decoded());
  auto d = make(json_spec());
  DecodeResult r = d->decode("[1,2,3]");
  REQUIRE(r.is_error());
  CHECK(r.error().reason == "JSON payload is an array, expected an object holding the declared fields");
  CHECK(r.error().error_class == ErrorClass::kShape);
}

TEST_CASE("json: malformed and truncated payloads name the byte") {
  auto d = make(StreamSpec{});
  auto err = [&](std::string_view p) {
    DecodeResult r = d->decode(p);
    REQUIRE_MESSAGE(r.is_error(), std::string(p));
    return r.error();
  };
  DecodeError e = err(R"({"temp": 21.5, "x" 1})");
  CHECK(e.reason == "invalid JSON at byte 19: expected ':' after an object key, got '1'");
  CHECK(e.offset == 19);
  CHECK(e.error_class == ErrorClass::kSyntax);
  CHECK(err(R"({"temp": 21.5,)").reason == "invalid JSON at byte 14: unexpected end of the payload (truncated?)");
  CHECK(err(R"({"temp": "21.5)").reason == "invalid JSON at byte 9: unterminated string (truncated?)");
  CHECK(err(R"({"a":1}})").reason == "invalid JSON at byte 7: unexpected '}' after the JSON value");
  CHECK(err(R"({"a":01})").reason == "invalid JSON at byte 5: invalid number: leading zero");
  CHECK(err(R"({"a":tru})").reason == "invalid JSON at byte 5: invalid literal (expected 'true')");
  CHECK(err(R"({"a":"\q"})").reason == "invalid JSON at byte 6: invalid escape '\\q' in a string");
  // A non-printable escaped byte is named, not copied (an escaped 0xff made a reason that was not
  // UTF-8: tests/fuzz/corpus/decode_json/regression-escape-0xff).
  CHECK(err(std::string("{\"a\":\"\\\x01\"}")).reason ==
        "invalid JSON at byte 6: invalid escape: '\\' followed by byte 0x01 in a string");
  CHECK(err("{\"a\":\"x\ny\"}").reason == "invalid JSON at byte 7: control character 0x0a in a string (must be escaped)");
  CHECK(err("{'a':1}").reason == "invalid JSON at byte 1: expected a string key, got '''");
  CHECK(err("  x").reason == "invalid JSON at byte 2: expected a JSON value, got 'x'");
  CHECK(err("").reason == "empty payload (no JSON value)");
  CHECK(err(" \r\n").reason == "empty payload (no JSON value)");
  // Every prefix of a good payload is an error, never a crash.
  const std::string good = R"({"ts":1700000000,"temp":21.5,"meta":{"site":"n\u00e9"},"v":[1,2.5e3,true,null]})";
  for (std::size_t i = 1; i < good.size(); ++i) CHECK(d->decode(good.substr(0, i)).is_error());
  CHECK(d->decode(good).is_decoded());
}

TEST_CASE("json: non-UTF-8 payloads are rejected with the offset") {
  auto d = make(StreamSpec{});
  DecodeResult r = d->decode("{\"name\":\"ab\xff\"}");
  REQUIRE(r.is_error());
  CHECK(r.error().reason == "payload is not valid UTF-8 at byte 11");
  CHECK(r.error().offset == 11);
  CHECK(r.error().error_class == ErrorClass::kNotUtf8);
  CHECK(d->decode("\xef\xbb\xbf{}").is_error());  // a BOM is not JSON
}

TEST_CASE("json: deep nesting is refused at the configured depth, without recursion limits") {
  StreamSpec s;
  s.json_max_depth = 8;
  auto d = make(s);
  CHECK(d->decode("[[[[[[[[1]]]]]]]]").is_decoded());  // 8 levels
  DecodeResult r = d->decode("[[[[[[[[[1]]]]]]]]]");  // 9
  REQUIRE(r.is_error());
  CHECK(r.error().reason == "JSON at byte 8 is nested deeper than 8 levels");
  auto dflt = make(StreamSpec{});
  const std::string bomb = std::string(100000, '[') + std::string(100000, ']');
  CHECK(dflt->decode(bomb).is_error());
  CHECK(dflt->decode(std::string(500000, '{')).is_error());
}

TEST_CASE("json: payloads over the limit are refused before parsing; huge ones within it work") {
  StreamSpec s;
  s.max_payload_bytes = 1000;
  auto d = make(s);
  DecodeResult r = d->decode(std::string(1001, ' '));
  REQUIRE(r.is_error());
  CHECK(r.error().reason == "payload of 1001 bytes is over the limit of 1000 bytes (max payload size)");
  CHECK(r.error().error_class == ErrorClass::kTooLarge);
  CHECK(d->counters().failed_by_class[static_cast<int>(ErrorClass::kTooLarge)] == 1);

  StreamSpec big_spec = json_spec();
  big_spec.max_payload_bytes = 16 << 20;
  auto big = make(big_spec);
  std::string p = "{\"ts\":1700000000,\"temp\":1.5,\"blob\":\"";
  p.append(10 << 20, 'x');
  p += "\"}";
  DecodeResult ok = big->decode(p);
  REQUIRE(ok.is_decoded());
  CHECK(ok.decoded().payload.size() == p.size());
  // After the big one, small ones still decode (buffers were given back and regrown).
  CHECK(big->decode(R"({"ts":1700000000,"temp":2})").is_decoded());
  std::string bad = p;
  bad[bad.size() - 1] = ',';
  CHECK(big->decode(bad).is_error());
}

TEST_CASE("json: the decoder is reusable after every kind of error") {
  auto d = make(json_spec());
  const char* payloads[] = {"{", "\xff", "[]", R"({"ts":1,"temp":"x"})", R"({"ts":"x","temp":1})", ""};
  for (const char* p : payloads) CHECK(d->decode(p).is_error());
  DecodeResult r = d->decode(R"({"ts":1700000000,"temp":1,"sensor":"a"})");
  REQUIRE(r.is_decoded());
  CHECK(*r.decoded().key == "a");
  DecodeCounters c = d->counters();
  CHECK(c.failed == 6);
  CHECK(c.decoded == 1);
  std::uint64_t sum = 0;
  for (auto n : c.failed_by_class) sum += n;
  CHECK(sum == c.failed);
}

// ---------------------------------------------------------------- csv

TEST_CASE("csv: a line becomes a typed JSON object in column order") {
  auto d = make(csv_spec());
  DecodeResult r = d->decode("1700000000.5,s-1,21.5,all good\n");
  REQUIRE(r.is_decoded());
  CHECK(r.decoded().payload == R"({"ts":1700000000.5,"sensor":"s-1","temp":21.5,"note":"all good"})");
  CHECK(*r.decoded().key == "s-1");
  CHECK(r.decoded().event_time_ms == 1700000000500);
  check_json(r.decoded().payload);
}

TEST_CASE("csv: every field type") {
  StreamSpec s;
  s.format = Format::kCsv;
  s.csv.columns = {"d", "i", "s", "b", "t"};
  s.fields = {field("d", FieldType::kDouble), field("i", FieldType::kInt), field("s", FieldType::kString),
              field("b", FieldType::kBool), field("t", FieldType::kTimestamp)};
  auto d = make(s);
  auto payload = [&](std::string_view line) {
    DecodeResult r = d->decode(line);
    REQUIRE_MESSAGE(r.is_decoded(), (r.is_error() ? r.error().reason : std::string()));
    check_json(r.decoded().payload);
    return std::string(r.decoded().payload);
  };
  CHECK(payload("1.50,42,hi,true,2024-05-01T12:00:00Z") == R"({"d":1.50,"i":42,"s":"hi","b":true,"t":"2024-05-01T12:00:00Z"})");
  CHECK(payload("+2,+7,007,0,1700000000") == R"({"d":2,"i":7,"s":"007","b":false,"t":1700000000})");
  CHECK(payload(".5,3.0,\"a,b\",YES,1.7e9") == R"({"d":0.5,"i":3,"s":"a,b","b":true,"t":1.7e9})");
  CHECK(payload("1e3,-9223372036854775808,x,off,0017") == R"({"d":1e3,"i":-9223372036854775808,"s":"x","b":false,"t":17})");
  CHECK(payload(",,,,") == R"({"d":null,"i":null,"s":null,"b":null,"t":null})");
  CHECK(payload(",,\"\",,") == R"({"d":null,"i":null,"s":"","b":null,"t":null})");
  CHECK(reason_of(*d, "abc,1,x,true,1") == "line 1: field 'd' (column 1): expected double, got \"abc\"");
  CHECK(reason_of(*d, "nan,1,x,true,1") == "line 1: field 'd' (column 1): expected double, got \"nan\"");
  CHECK(reason_of(*d, "1,1.5,x,true,1") == "line 1: field 'i' (column 2): expected int, got \"1.5\"");
  CHECK(reason_of(*d, "1,99999999999999999999,x,true,1") ==
        "line 1: field 'i' (column 2): expected int, got \"99999999999999999999\"");
  CHECK(reason_of(*d, "1,1,x,maybe,1") == "line 1: field 'b' (column 4): expected bool, got \"maybe\"");
  CHECK(reason_of(*d, "1,1,x,true,soon") ==
        "line 1: field 't' (column 5): expected a timestamp (a time (unix number or RFC 3339)), got \"soon\"");
  DecodeResult r = d->decode("1,1,x,true,soon");
  REQUIRE(r.is_error());
  CHECK(r.error().offset == 11);
}

TEST_CASE("csv: column count mismatches name the line") {
  auto d = make(csv_spec());
  DecodeResult r = d->decode("1,2,3,4,5");
  REQUIRE(r.is_error());
  CHECK(r.error().reason == "line 1: 5 columns, expected 4");
  CHECK(r.error().error_class == ErrorClass::kShape);
  CHECK(reason_of(*d, "1,2,3") == "line 1: 3 columns, expected 4");
  CHECK(reason_of(*d, "1") == "line 1: 1 column, expected 4");
  CHECK(reason_of(*d, "\n\n1,2,3,4,5\n") == "line 3: 5 columns, expected 4");
  // Many columns: counted, not stored.
  CHECK(reason_of(*d, std::string(200000, ',')) == "line 1: 200001 columns, expected 4");
}

TEST_CASE("csv: RFC 4180 quoting edge cases") {
  StreamSpec s;
  s.format = Format::kCsv;
  s.csv.columns = {"a", "b"};
  auto d = make(s);
  auto payload = [&](std::string_view line) {
    DecodeResult r = d->decode(line);
    REQUIRE_MESSAGE(r.is_decoded(), (r.is_error() ? r.error().reason : std::string()));
    check_json(r.decoded().payload);
    return std::string(r.decoded().payload);
  };
  CHECK(payload(R"("x,y","say ""hi""")") == R"({"a":"x,y","b":"say \"hi\""})");
  CHECK(payload("\"line\nbreak\",2") == R"({"a":"line\nbreak","b":2})");
  CHECK(payload("\"crlf\r\nin\",2\r\n") == R"({"a":"crlf\r\nin","b":2})");
  CHECK(payload(R"("","")") == R"({"a":"","b":""})");
  CHECK(payload(R"("""","x")") == R"({"a":"\"","b":"x"})");
  CHECK(payload(R"(12" pipe,x)") == R"({"a":"12\" pipe","b":"x"})");  // a quote inside an unquoted cell is data
  CHECK(payload(R"(  "q"  , 7 )") == R"({"a":"q","b":7})");         // spaces around cells trimmed
  CHECK(payload("1,") == R"({"a":1,"b":null})");
  CHECK(payload("\"1\",true") == R"({"a":"1","b":true})");  // quoted = a string when undeclared
  CHECK(payload("caf\xc3\xa9,\t") == "{\"a\":\"caf\xc3\xa9\",\"b\":null}");
  DecodeResult r = d->decode(R"("open,2)");
  REQUIRE(r.is_error());
  CHECK(r.error().reason == "line 1: column 1: quoted field opened at byte 0 is not closed");
  CHECK(r.error().offset == 0);
  CHECK(r.error().error_class == ErrorClass::kSyntax);
  CHECK(reason_of(*d, R"(1,"ab"c)") ==
        "line 1: column 2: unexpected \"c\" at byte 6 after a closing quote (a quote inside a quoted field is written \"\")");
}

TEST_CASE("csv: other delimiters, no trimming") {
  StreamSpec s;
  s.format = Format::kCsv;
  s.csv.columns = {"a", "b", "c"};
  s.csv.delimiter = ';';
  s.csv.trim_spaces = false;
  auto d = make(s);
  DecodeResult r = d->decode(" x ;1,5;\"p;q\"");
  REQUIRE(r.is_decoded());
  CHECK(r.decoded().payload == R"({"a":" x ","b":"1,5","c":"p;q"})");
  s.csv.delimiter = '\t';
  s.csv.trim_spaces = true;
  auto tabs = make(s);
  r = tabs->decode("a b\t\t 3 ");
  REQUIRE(r.is_decoded());
  CHECK(r.decoded().payload == R"({"a":"a b","b":null,"c":3})");
}

TEST_CASE("csv: header lines matching the columns are skipped and counted") {
  StreamSpec s = csv_spec();
  s.csv.header = CsvHeader::kMatch;
  auto d = make(s);
  CHECK(d->decode("ts,sensor,temp,note\n").is_skipped());
  CHECK(d->decode(" TS , Sensor,temp,note\r\n").is_skipped());
  DecodeResult r = d->decode("ts,sensor,temp,note\n1700000000,s-3,20,x");
  REQUIRE(r.is_decoded());
  CHECK(*r.decoded().key == "s-3");
  CHECK(d->counters().skipped == 2);
  // A header that does not match is data, and fails as such: visible, never dropped.
  CHECK(reason_of(*d, "time,id,temperature,remark") ==
        "line 1: field 'temp' (column 3): expected double, got \"temperature\"");
  // Two data lines are never taken for a header and a record.
  CHECK(reason_of(*d, "1700000000,a,1,x\n1700000001,b,2,y\n") ==
        "line 2: a second data line (line 1 was the first); one payload is one record");
}

TEST_CASE("csv: first_line header mode skips each payload's first line, whatever it says") {
  StreamSpec s = csv_spec();
  s.csv.header = CsvHeader::kFirstLine;
  auto d = make(s);
  DecodeResult r = d->decode("time,id,temperature,remark\n1700000000,s-2,20,x\n");
  REQUIRE(r.is_decoded());
  CHECK(*r.decoded().key == "s-2");
  CHECK(d->decode("time,id,temperature,remark\r\n").is_skipped());
  CHECK(d->counters().skipped == 1);
  CHECK(reason_of(*d, "h\n1,a,1,x\n2,b,2,y") ==
        "line 3: a second data line (line 2 was the first); one payload is one record");
}

TEST_CASE("csv: without a header mode a header line is data, and one payload is one record") {
  auto no_skip = make(csv_spec());
  CHECK(reason_of(*no_skip, "ts,sensor,temp,note") == "line 1: field 'temp' (column 3): expected double, got \"temp\"");
  CHECK(reason_of(*no_skip, "1,a,1,x\n2,b,2,y") == "line 2: a second data line (line 1 was the first); one payload is one record");
}

TEST_CASE("csv: empty, missing and non-UTF-8 payloads") {
  auto d = make(csv_spec());
  CHECK(reason_of(*d, "") == "empty payload (no data line)");
  CHECK(reason_of(*d, "\r\n\n") == "empty payload (no data line)");
  CHECK(reason_of(*d, "1700000000,s,,x") == "line 1: field 'temp' (column 3) is missing (empty)");
  CHECK(reason_of(*d, ",s,1,x") == "line 1: event-time field 'ts' is missing");
  CHECK(reason_of(*d, "soon,s,1,x") == "line 1: event-time field 'ts': expected a unix_s number, got \"soon\"");
  DecodeResult r = d->decode("1700000000,s\xc3\x28,1,x");
  REQUIRE(r.is_error());
  CHECK(r.error().reason == "payload is not valid UTF-8 at byte 12");
  DecodeResult nokey = d->decode("1700000000,,1,x");
  REQUIRE(nokey.is_decoded());
  CHECK_FALSE(nokey.decoded().key);
}

TEST_CASE("csv: undeclared columns follow the undeclared policy") {
  StreamSpec s;
  s.format = Format::kCsv;
  s.csv.columns = {"a", "b", "c", "d"};
  s.fields = {field("a", FieldType::kString)};
  auto infer = make(s);
  DecodeResult r = infer->decode("1,2.5,true,007");
  REQUIRE(r.is_decoded());
  CHECK(r.decoded().payload == R"({"a":"1","b":2.5,"c":true,"d":"007"})");
  s.undeclared = Undeclared::kString;
  auto strings = make(s);
  r = strings->decode("1,2.5,true,007");
  REQUIRE(r.is_decoded());
  CHECK(r.decoded().payload == R"({"a":"1","b":"2.5","c":"true","d":"007"})");
  s.undeclared = Undeclared::kDrop;
  auto drop = make(s);
  r = drop->decode("1,2.5,true,007");
  REQUIRE(r.is_decoded());
  CHECK(r.decoded().payload == R"({"a":"1"})");
}

// ---------------------------------------------------------------- kv

TEST_CASE("kv: pairs become a typed JSON object in order; absent declared fields are null") {
  auto d = make(kv_spec());
  DecodeResult r = d->decode("id=s-1 ts=1700000000123 temp=21.5,hum=40;door=open site=\"north gate\" extra=x");
  REQUIRE(r.is_error());  // 'open' is not a bool
  CHECK(r.error().reason == "field 'door': expected bool, got \"open\"");
  r = d->decode("id=s-1 ts=1700000000123 temp=21.5,hum=40;door=on site=\"north gate\" extra=x n=-2");
  REQUIRE(r.is_decoded());
  CHECK(r.decoded().payload ==
        R"({"id":"s-1","ts":1700000000123,"temp":21.5,"hum":40,"door":true,"site":"north gate","extra":"x","n":-2})");
  CHECK(*r.decoded().key == "s-1");
  CHECK(r.decoded().event_time_ms == 1700000000123);
  r = d->decode("ts=1 temp=1\n");
  REQUIRE(r.is_decoded());
  CHECK(r.decoded().payload == R"({"ts":1,"temp":1,"hum":null,"door":null,"site":null})");
  CHECK_FALSE(r.decoded().key);
}

TEST_CASE("kv: quoting and escapes") {
  StreamSpec s;
  s.format = Format::kKv;
  auto d = make(s);
  auto payload = [&](std::string_view line) {
    DecodeResult r = d->decode(line);
    REQUIRE_MESSAGE(r.is_decoded(), (r.is_error() ? r.error().reason : std::string()));
    check_json(r.decoded().payload);
    return std::string(r.decoded().payload);
  };
  CHECK(payload(R"(msg="a \"quoted\" word" path="C:\\tmp")") == R"({"msg":"a \"quoted\" word","path":"C:\\tmp"})");
  CHECK(payload(R"(a="x,y;z" b=1)") == R"({"a":"x,y;z","b":1})");
  CHECK(payload(R"(a="line\nnext\t" b="\d")") == R"({"a":"line\nnext\t","b":"\\d"})");
  CHECK(payload(R"(a="" b=)") == R"({"a":"","b":null})");
  CHECK(payload("a=b=c") == R"({"a":"b=c"})");
  CHECK(payload(R"(a=x"y)") == R"({"a":"x\"y"})");
  CHECK(payload("  ,;a=1;;  b=2 \r\n") == R"({"a":1,"b":2})");
  CHECK(payload("\xc3\xa9t\xc3\xa9=\xe2\x82\xac") == "{\"\xc3\xa9t\xc3\xa9\":\"\xe2\x82\xac\"}");
}

TEST_CASE("kv: syntax errors are named with the byte") {
  auto d = make(kv_spec());
  DecodeResult r = d->decode("temp=1 broken ts=2");
  REQUIRE(r.is_error());
  CHECK(r.error().reason == "\"broken\" at byte 7 has no '=' (expected key=value)");
  CHECK(r.error().offset == 7);
  CHECK(reason_of(*d, "temp=1 =2") == "empty key before '=' at byte 7");
  CHECK(reason_of(*d, R"(temp=1 site="open)") == "value of \"site\": quote opened at byte 12 is not closed");
  CHECK(reason_of(*d, R"(site="a"b temp=1)") == "value of \"site\": unexpected \"b\" at byte 8 after the closing quote");
  CHECK(reason_of(*d, "temp=1 temp=2") == "key \"temp\" appears twice (bytes 0 and 7)");
  CHECK(reason_of(*d, "") == "empty payload (no key=value pairs)");
  CHECK(reason_of(*d, " , ;") == "empty payload (no key=value pairs)");
  CHECK(reason_of(*d, "\"k\"=1") == "a key cannot start with a quote (byte 0)");
  CHECK(reason_of(*d, "ts=1 hum=4") == "field 'temp' is missing");
  CHECK(reason_of(*d, "ts=x temp=1") == "event-time field 'ts': expected a unix_ms number, got \"x\"");
  CHECK(reason_of(*d, "temp=1") == "event-time field 'ts' is missing");
  CHECK(reason_of(*d, "ts=1 temp=1 hum=\xff") == "payload is not valid UTF-8 at byte 16");
  std::string many;
  for (int i = 0; i < 2000; ++i) many += "k" + std::to_string(i) + "=1 ";
  CHECK(reason_of(*d, many) == "more than 1000 key=value pairs (max pairs)");
}

TEST_CASE("kv: custom separators and assign character") {
  StreamSpec s;
  s.format = Format::kKv;
  s.kv.separators = "&";
  s.kv.assign = ':';
  s.fields = {field("t", FieldType::kDouble)};
  auto d = make(s);
  DecodeResult r = d->decode("t:1.5&name:a b&u:x=y");
  REQUIRE(r.is_decoded());
  CHECK(r.decoded().payload == R"({"t":1.5,"name":"a b","u":"x=y"})");
}

// ---------------------------------------------------------------- raw and specs

TEST_CASE("raw: any bytes stored verbatim, only the size is checked") {
  StreamSpec s;
  s.format = Format::kRaw;
  s.max_payload_bytes = 8;
  auto d = make(s);
  const std::string bytes("\x00\xff\x01zz", 5);
  DecodeResult r = d->decode(bytes);
  REQUIRE(r.is_decoded());
  CHECK(r.decoded().payload == bytes);
  CHECK_FALSE(r.decoded().key);
  CHECK_FALSE(r.decoded().event_time_ms);
  CHECK(d->decode("").is_decoded());
  CHECK(d->decode("123456789").is_error());
  CHECK(d->counters().bytes == 14);
}

TEST_CASE("spec mistakes are reported with the stream and the field") {
  auto status = [](StreamSpec s) {
    s.name = "env";
    return validate_spec(s).to_string();
  };
  StreamSpec s = csv_spec();
  s.fields.push_back(field("hum", FieldType::kInt));
  CHECK(status(s) == "invalid argument: stream 'env': field 'hum' is not a csv column");
  s = csv_spec();
  s.csv.columns.clear();
  CHECK(status(s) == "invalid argument: stream 'env': a csv stream needs its column names");
  s = csv_spec();
  s.csv.delimiter = '"';
  CHECK(status(s) == "invalid argument: stream 'env': the csv delimiter cannot be a quote or a line break");
  s = csv_spec();
  s.time->field = "when";
  CHECK(status(s) == "invalid argument: stream 'env': event-time field 'when' is not a csv column");
  s = json_spec();
  s.fields.push_back(field("temp", FieldType::kInt));
  CHECK(status(s) == "invalid argument: stream 'env': field 'temp' is declared twice");
  s = json_spec();
  s.fields[0].path = "a..b";
  CHECK(status(s) == "invalid argument: stream 'env': field 'temp': path 'a..b' has an empty segment");
  s = kv_spec();
  s.fields[0].path = "x.y";
  CHECK(status(s) == "invalid argument: stream 'env': field 'temp': a path ('x.y') is only for json streams");
  s = kv_spec();
  s.kv.assign = ',';
  CHECK(status(s) == "invalid argument: stream 'env': the kv assign character ',' is also a separator");
  s = StreamSpec{};
  s.format = Format::kRaw;
  s.fields = {field("x", FieldType::kInt)};
  CHECK(status(s) == "invalid argument: stream 'env': a raw stream has no fields (field 'x')");
  s = StreamSpec{};
  s.max_payload_bytes = 0;
  CHECK(status(s) == "invalid argument: stream 'env': max payload size must be at least 1 byte");
  CHECK_FALSE(Decoder::create(s).is_ok());
}

TEST_CASE("names round-trip between config text and enums") {
  for (auto f : {Format::kJson, Format::kCsv, Format::kKv, Format::kRaw}) {
    Format back;
    REQUIRE(parse_format(format_name(f), &back));
    CHECK(back == f);
  }
  for (auto t : {TimeFormat::kAuto, TimeFormat::kUnixS, TimeFormat::kUnixMs, TimeFormat::kUnixUs, TimeFormat::kUnixNs,
                 TimeFormat::kRfc3339}) {
    TimeFormat back;
    REQUIRE(parse_time_format(time_format_name(t), &back));
    CHECK(back == t);
  }
  FieldType ft;
  CHECK(parse_field_type("timestamp", &ft));
  CHECK(ft == FieldType::kTimestamp);
  CHECK_FALSE(parse_field_type("float", &ft));
  CHECK(std::string(error_class_name(ErrorClass::kFieldType)) == "field_type");
}

// ---------------------------------------------------------------- robustness

TEST_CASE("random bytes never crash any decoder and every outcome is counted (fixed seed)") {
  std::mt19937 rng(7);
  std::vector<std::unique_ptr<Decoder>> decoders;
  decoders.push_back(make(json_spec()));
  decoders.push_back(make(csv_spec()));
  decoders.push_back(make(kv_spec()));
  const std::string alphabet = "{}[]\":,=; \n\r\t\\0123456789.eE+-truefalsnl\"\"ts,temp\xff\xc3\xa9";
  std::uniform_int_distribution<std::size_t> len(0, 80);
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
  const int kRuns = 4000;
  for (int i = 0; i < kRuns; ++i) {
    std::string p(len(rng), ' ');
    for (auto& c : p) c = alphabet[pick(rng)];
    for (auto& d : decoders) {
      DecodeResult r = d->decode(p);
      if (r.is_decoded() && d->spec().format != Format::kJson) check_json(r.decoded().payload);
      if (r.is_error()) CHECK_FALSE(r.error().reason.empty());
    }
  }
  for (auto& d : decoders) {
    DecodeCounters c = d->counters();
    CHECK(c.decoded + c.failed + c.skipped == kRuns);
  }
}

TEST_CASE("json decoding keeps up with the hot path (~100-byte messages, 4 declared fields)") {
  StreamSpec s;
  s.fields = {field("temp", FieldType::kDouble, true), field("hum", FieldType::kInt),
              field("site", FieldType::kString, false, "meta.site")};
  s.time = TimeSpec{"ts", TimeFormat::kUnixMs, false};
  s.key_field = "sensor";
  auto d = make(s);
  const std::string p =
      R"({"ts":1700000000123,"sensor":"gw-17/s-3","temp":21.53,"hum":40,"meta":{"site":"north"},"v":1})";
  const int kMessages = 200000;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kMessages; ++i) {
    DecodeResult r = d->decode(p);
    if (!r.is_decoded()) FAIL(r.error().reason);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double rate = kMessages / secs;
  MESSAGE("json decode: " << static_cast<long>(rate) << " msgs/s");
  // Generous floor (shared CI cores, sanitizer builds); the target is >100k/s per core.
  CHECK(rate > 20000);
}
