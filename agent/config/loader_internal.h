// Internal entry points of the loader, for tests and the fuzzer.
#pragma once

#include <set>
#include <string>
#include <string_view>

#include "agent/config/config.h"

namespace outpost::config::internal {

// parse_config(), and when `touched` is given, the table paths the binding layer read
// (lets a test prove that every key in the table is bound to a struct field).
LoadResult parse(std::string_view yaml, const std::string& file_name, const LoadOptions& options,
                 std::set<std::string>* touched);

}  // namespace outpost::config::internal
