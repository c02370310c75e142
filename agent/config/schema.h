// The one table of config keys (internal to agent/config; tests include it too).
//
// A key's path names where it sits: "storage.flush.interval"; "[]" is an item of a list
// ("streams[].fields[].type"); "[mqtt]" is an item of a list whose `type` key says mqtt, so
// "sources[mqtt].broker" exists only in MQTT sources. Sections and lists are keys too: the
// table lists every key a user may write, and nothing else is accepted.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace outpost::config::schema {

enum class Type : std::uint8_t {
  kSection,     // a map of further keys
  kList,        // a list of maps (items: path + "[]" or "[<type>]")
  kString,      // ${VAR} expanded
  kBytes,       // a string with escapes decoded: \n \r \t \0 \\ \xHH
  kInt,         // a whole number in [min, max]
  kBool,        // true/false (yes/no, on/off accepted)
  kDuration,    // "200ms", "10s", "5m", "1h", "7d"; bounds min/max in ms
  kSize,        // "4096", "64KiB", "5MB"; bounds min/max in bytes
  kRate,        // "500/s" or "1MiB/s"
  kChoice,      // one of `choices` ("a|b|c")
  kStringList,  // a list of strings
  kStringMap,   // a map of string to string
  kPath,        // a file that must be readable
  kEnvName,     // the name of an environment variable holding a secret
  kSecretFile,  // a file holding a secret (read at load)
  kForbidden,   // a key that is known but never allowed (a password in clear)
};

struct Key {
  const char* path;
  Type type;
  // Default as the user would write it; nullptr = none (absent means unset);
  // "<...>" = computed, the text says how (e.g. "<host name>").
  const char* def = nullptr;
  const char* choices = nullptr;  // kChoice: "a|b|c"
  std::int64_t min = 0;           // kInt/kDuration/kSize bounds; max == 0: no upper bound
  std::int64_t max = 0;
  // Non-null: the key must be present (and non-empty); the text completes
  // "<where> needs ...", e.g. "a broker (e.g. tcp://127.0.0.1:1883)".
  const char* required = nullptr;
  const char* doc = "";
};

const std::vector<Key>& table();
const Key* find(std::string_view path);
// Keys directly under `parent` ("" for the top level), in table order.
std::vector<const Key*> children(std::string_view parent);
// The last path component ("interval" for "storage.flush.interval").
std::string_view leaf(std::string_view path);
const char* type_name(Type type);
std::vector<std::string> split_choices(const char* choices);

}  // namespace outpost::config::schema
