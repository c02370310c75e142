// libFuzzer target for the SQL front end (agent/query): compile() never crashes, hangs or throws
// on any bytes, and every rejection has a message and a position inside the text. Queries that
// compile are run over a few fixed records (valid, odd and broken payloads, out of order), with
// idle/periodic/end calls and a save/load round trip, which must give identical state bytes.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "agent/query/query.h"
#include "tests/fuzz/fuzz_query_common.h"

namespace {

using namespace outpost;
using namespace outpost::query;

struct Sink : RowSink {
  void row(OutputRow&& r) override {
    if (r.payload.empty() || r.payload.front() != '{' || r.payload.back() != '}') std::abort();
  }
  void late(const store::RecordView&, std::string_view reason) override {
    if (reason.empty()) std::abort();
  }
};

const char* const kPayloads[] = {
    R"({"device":"a","temp":21.5,"hum":40,"ok":true,"ts":1700000000,"meta":{"fw":"1.0"},"x":"y"})",
    R"({"device":"b","temp":-3,"hum":7,"ok":false,"ts":"2024-05-01T12:00:00Z"})",
    R"({"device":null,"temp":1e308,"hum":9223372036854775807})",
    R"({"device":"a","temp":"hot"})",
    R"([1,2,3])",
    R"(not json)",
    R"({})",
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) return 0;  // real queries are short; keeps each run fast
  const std::string_view sql(reinterpret_cast<const char*>(data), size);
  Catalog catalog = fuzz::readings_catalog();
  auto r = compile(sql, catalog);
  if (auto* e = std::get_if<SqlError>(&r)) {
    if (e->message.empty() || e->offset > size || e->line < 1 || e->column < 1) std::abort();
    (void)e->to_string();
    return 0;
  }
  const auto& q = std::get<std::shared_ptr<const Query>>(r);
  if (!q || q->columns().empty()) std::abort();
  for (const LatePolicy policy : {LatePolicy::kDrop, LatePolicy::kUpdate}) {
    ExecutorOptions o;
    o.late_policy = policy;
    o.allowed_lateness_ms = 5000;
    auto ex = Executor::create(q, o);
    Sink sink;
    const std::int64_t times[] = {1000, 61000, 3000, 59999, 60000, 200000, -5, 1000};
    std::uint64_t seq = 0;
    for (std::int64_t t : times) {
      for (const char* p : kPayloads) {
        store::RecordView rec;
        rec.seq = ++seq;
        rec.event_time_ms = t;
        rec.ingest_time_ms = t;
        rec.payload = p;
        rec.has_key = (seq & 1) != 0;
        rec.key = "k";
        ex->on_record(rec, sink);
      }
      if (t == 3000) ex->on_periodic(sink);
      if (t == 60000) {
        const std::string state = ex->save_state();
        auto fresh = Executor::create(q, o);
        if (!fresh->load_state(state).is_ok() || fresh->save_state() != state) std::abort();
        ex = std::move(fresh);
        ex->on_idle(sink);
      }
    }
    ex->on_end(sink);
    (void)ex->counters();
  }
  return 0;
}
