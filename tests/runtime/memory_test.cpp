// release_startup_memory(): the daemon gives back what start-up left resident, and everything it
// dropped (code, constants) comes back unchanged on use, while what the process wrote (heap,
// relocated pointers, vtables) is kept.
#include <doctest/doctest.h>

#include <cstdio>
#include <map>
#include <memory>
#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "agent/runtime/memory.h"

using namespace outpost::runtime;

namespace {

struct Shape {
  virtual ~Shape() = default;
  virtual std::string name() const = 0;  // a vtable: relocated data the release must keep
};
struct Square : Shape {
  std::string name() const override { return "square"; }
};

// Work that touches a good part of libstdc++ and libc (streams, locale-aware formatting, maps,
// sorting), so there is code to drop and fault back in.
std::string work() {
  std::map<std::string, int> counts;
  std::istringstream in("the gateway keeps every reading the broker sends the gateway");
  for (std::string word; in >> word;) ++counts[word];
  std::vector<std::string> words;
  for (const auto& [w, n] : counts) words.push_back(w + ":" + std::to_string(n));
  std::sort(words.begin(), words.end(), std::greater<>());
  std::ostringstream out;
  out.precision(3);
  out << std::fixed << 21.5 << '/' << counts["the"] << '/' << words.front();
  char buf[64];
  std::snprintf(buf, sizeof buf, "/%e", 1700000000.25);
  return out.str() + buf;
}

}  // namespace

TEST_CASE("released start-up memory shrinks RSS and everything still works afterwards") {
  const std::string before = work();
  std::vector<std::unique_ptr<Shape>> shapes;
  for (int i = 0; i < 1000; ++i) shapes.push_back(std::make_unique<Square>());
  std::vector<std::string> heap(2000, std::string(100, 'x'));  // written memory: must survive

  ReleaseReport r = release_startup_memory();
  CHECK(r.mappings > 0);
  CHECK(r.rss_before_kib > 0);
  CHECK(r.rss_after_kib < r.rss_before_kib);

  CHECK(work() == before);  // code and constants fault back in unchanged
  CHECK(shapes[999]->name() == "square");
  CHECK(heap[1999] == std::string(100, 'x'));
  // Twice in a row is harmless.
  release_startup_memory();
  CHECK(work() == before);
}
