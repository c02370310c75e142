// The helpers every module shares: back-off jitter per instance, did-you-mean, JSON strings,
// byte codecs.
#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include "base/backoff.h"
#include "base/byte_codec.h"
#include "base/json_string.h"
#include "base/suggest.h"

using namespace outpost::base;

TEST_CASE("two back-offs created at the same instant draw different delays") {
  // A fleet of gateways (or the sources of one) that lost the same broker must not retry in
  // step: instances made together differ in their delays.
  std::vector<Backoff> fleet;
  fleet.reserve(16);
  for (int i = 0; i < 16; ++i) fleet.emplace_back(BackoffOptions{1000, 60000});
  std::set<std::vector<std::int64_t>> schedules;
  for (auto& b : fleet) {
    std::vector<std::int64_t> s;
    for (int k = 0; k < 4; ++k) s.push_back(b.next_delay_ms());
    schedules.insert(s);
  }
  CHECK(schedules.size() == fleet.size());
}

TEST_CASE("back-off doubles from min to max with +-20% jitter and restarts after reset") {
  Backoff b(BackoffOptions{100, 1000}, 42);
  const std::int64_t base_ms[] = {100, 200, 400, 800, 1000, 1000};
  for (std::int64_t want : base_ms) {
    const std::int64_t d = b.next_delay_ms();
    CHECK(d >= want * 8 / 10);
    CHECK(d <= want * 12 / 10);
  }
  CHECK(b.attempts() == 6);
  b.reset();
  const std::int64_t d = b.next_delay_ms();
  CHECK(d >= 80);
  CHECK(d <= 120);
  // The same seed gives the same delays (tests rely on it).
  Backoff x(BackoffOptions{100, 1000}, 7), y(BackoffOptions{100, 1000}, 7);
  for (int k = 0; k < 5; ++k) CHECK(x.next_delay_ms() == y.next_delay_ms());
  // Nonsense options still give a delay of at least 1 ms.
  Backoff z(BackoffOptions{0, 0}, 1);
  CHECK(z.next_delay_ms() >= 1);
}

TEST_CASE("did-you-mean offers a likely typo, never a far name") {
  CHECK(edit_distance("qso", "qos") == 1);  // a transposition is one edit
  CHECK(edit_distance("key_feild", "key_field") == 1);
  CHECK(edit_distance("", "abc") == 3);
  CHECK(edit_distance("TEMP", "temp", Case::kFolded) == 0);
  CHECK(edit_distance("TEMP", "temp") == 4);
  CHECK(closest_name("qso", {"topic", "qos", "stream"}) == "qos");
  CHECK(closest_name("sorces", {"agent", "sources", "streams"}) == "sources");
  CHECK(closest_name("brokers", {"broker", "client_id"}) == "broker");
  CHECK(closest_name("xyz", {"topic", "qos", "stream"}).empty());
  CHECK(closest_name("x", {"id"}).empty());  // two edits in a one-letter word is not a typo
  CHECK(closest_name("ab", {"xy"}).empty());  // as many edits as letters is not a typo
  CHECK(closest_name("qos", {"qos"}).empty());
  CHECK(closest_name("tmp", {"device", "temp"}, Case::kFolded) == "temp");
  CHECK(closest_name("Temp", {"device", "temp"}, Case::kFolded) == "temp");
  CHECK(closest_name("Temp", {"device", "temp"}) == "temp");  // one edit when case counts
  CHECK(closest_name(std::string(65, 'a'), {std::string(65, 'a') + "b"}).empty());
}

TEST_CASE("JSON strings are valid JSON and UTF-8 whatever the bytes") {
  CHECK(json_quote("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(json_quote(std::string("\n\t\x01", 3)) == "\"\\n\\t\\u0001\"");
  CHECK(json_quote("caf\xC3\xA9") == "\"caf\xC3\xA9\"");
  CHECK(json_quote("bad \xC3 byte") == "\"bad \xEF\xBF\xBD byte\"");  // invalid UTF-8 -> U+FFFD
  CHECK(json_quote("\xED\xA0\x80") == "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");  // a surrogate
  std::size_t at = 99;
  CHECK_FALSE(is_valid_utf8("ok \xF5", &at));
  CHECK(at == 3);
  CHECK(is_valid_utf8("\xF0\x9F\x98\x80"));
}

TEST_CASE("byte codecs round-trip little-endian and refuse short input") {
  char b[8];
  put_u32(b, 0x01020304u);
  CHECK(b[0] == 4);
  CHECK(get_u32(b) == 0x01020304u);
  std::string s;
  put_u64(&s, 0x1122334455667788ull);
  put_u8(&s, 9);
  CHECK(s.size() == 9);
  CHECK(static_cast<unsigned char>(s[0]) == 0x88);
  std::string_view in = s;
  std::uint64_t x = 0;
  CHECK(get_u64(&in, &x));
  CHECK(x == 0x1122334455667788ull);
  CHECK(in.size() == 1);
  CHECK_FALSE(get_u64(&in, &x));  // one byte left: refused, nothing consumed
  CHECK(in.size() == 1);
  std::string v;
  put_varint(&v, 300);
  CHECK(v == std::string("\xAC\x02", 2));
}
