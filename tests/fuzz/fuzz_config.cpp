// libFuzzer target: the config loader never crashes, hangs or throws on any bytes, and every
// failure comes with at least one error diagnostic that has a message.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "agent/config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024) return 0;  // real configs are a few KiB; keeps each run fast
  outpost::config::LoadOptions options;
  // A fixed environment and no file access: the result depends on the input bytes only.
  options.getenv = [](const std::string& name) -> std::optional<std::string> {
    if (name == "OUTPOST_FUZZ_VAR") return std::string("42");
    return std::nullopt;
  };
  options.touch_files = false;
  std::string_view yaml(reinterpret_cast<const char*>(data), size);
  outpost::config::LoadResult r = outpost::config::parse_config(yaml, "fuzz.yaml", options);
  if (!r.ok() && r.error_count() == 0) std::abort();
  for (const auto& d : r.diagnostics) {
    if (d.message.empty()) std::abort();
  }
  (void)r.report();
  return 0;
}
