// Reads outpost.yaml into a Config, driven by the table in schema.cpp.
//
// Two layers. The generic layer (class Reader) knows the table: it opens sections and lists,
// rejects unknown and duplicate keys, reports missing required keys, converts and range-checks
// scalars and applies defaults — all from the table, so a key's rules live in one place. The
// binding layer (read_* below) only says which key goes into which struct field, and adds the
// cross-checks a table cannot express (references between sections, incompatible combinations).
//
// yaml-cpp throws; every call into it is inside this file and every exception is caught here.
// Size: one file because the generic reader and the section bindings are still intertwined; the
// planned split puts the YAML reader apart from the bindings and passes the SQL check in.
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "base/suggest.h"
#include "agent/config/config.h"
#include "agent/config/loader_internal.h"
#include "agent/config/schema.h"
#include "store/filename.h"

namespace outpost::config {
namespace {

using schema::Key;
using schema::Type;

constexpr std::size_t kMaxConfigBytes = 4u << 20;

std::string join_choices(const std::vector<std::string>& v, const char* last_sep) {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out += (i + 1 == v.size()) ? last_sep : ", ";
    out += v[i];
  }
  return out;
}

std::string format_size(std::uint64_t bytes) {
  static constexpr std::pair<const char*, std::uint64_t> kUnits[] = {
      {"TiB", 1ull << 40}, {"GiB", 1ull << 30}, {"MiB", 1ull << 20}, {"KiB", 1ull << 10}};
  for (const auto& [unit, mul] : kUnits) {
    if (bytes >= mul && bytes % mul == 0) return std::to_string(bytes / mul) + unit;
  }
  return std::to_string(bytes);
}

Location mark_of(const YAML::Node& n) {
  if (!n.IsDefined()) return {};
  const YAML::Mark m = n.Mark();
  if (m.is_null()) return {};
  return {m.line + 1, m.column + 1};
}

// A map in the file (or its absence) at a place in the schema.
struct Section {
  bool present = false;
  std::string schema;   // "sources[]"
  std::string variant;  // "sources[mqtt]" for items discriminated by `type`; else empty
  std::string display;  // "sources[0]"; "" at the top
  Location at;
  std::vector<std::pair<YAML::Node, YAML::Node>> entries;  // key node, value node

  const YAML::Node* find(std::string_view key) const {
    for (const auto& [k, v] : entries) {
      if (k.IsScalar() && k.Scalar() == key) return &v;
    }
    return nullptr;
  }
  // Present with a non-null value.
  const YAML::Node* value(std::string_view key) const {
    const YAML::Node* v = find(key);
    return v && !v->IsNull() ? v : nullptr;
  }
  std::string where(std::string_view key) const {
    return display.empty() ? std::string(key) : display + "." + std::string(key);
  }
};

class Reader {
 public:
  Reader(std::string file, const LoadOptions& options) : file_(std::move(file)), options_(options) {}

  void error(Location at, std::string message) {
    diagnostics_.push_back({Diagnostic::Severity::kError, file_, at, std::move(message)});
  }
  void warning(Location at, std::string message) {
    diagnostics_.push_back({Diagnostic::Severity::kWarning, file_, at, std::move(message)});
  }
  std::vector<Diagnostic>& diagnostics() { return diagnostics_; }
  const std::set<std::string>& touched() const { return touched_; }
  const LoadOptions& options() const { return options_; }

  std::optional<std::string> env(const std::string& name) const {
    if (options_.getenv) return options_.getenv(name);
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  }

  Section root(const YAML::Node& node) {
    Section s;
    s.present = true;
    s.at = {1, 1};
    open_map(node, &s);
    return s;
  }

  Section section(const Section& parent, const char* key) {
    const Key& k = spec(parent, key, Type::kSection);
    Section s;
    s.schema = k.path;
    s.display = parent.where(key);
    s.at = parent.at;
    const YAML::Node* v = parent.value(key);
    if (!parent.present || !v) return s;
    s.at = mark_of(*v);
    if (!v->IsMap()) {
      error(s.at, s.display + " must be a map of keys (key: value lines or {key: value})");
      return s;
    }
    s.present = true;
    open_map(*v, &s);
    return s;
  }

  std::vector<Section> items(const Section& parent, const char* key) {
    const Key& k = spec(parent, key, Type::kList);
    std::vector<Section> out;
    const YAML::Node* v = parent.value(key);
    if (!parent.present || !v) return out;
    const std::string display = parent.where(key);
    if (!v->IsSequence()) {
      error(mark_of(*v), display + " must be a list (lines starting with '- ')");
      return out;
    }
    for (std::size_t i = 0; i < v->size(); ++i) {
      const YAML::Node item = (*v)[i];
      Section s;
      s.schema = std::string(k.path) + "[]";
      s.display = display + "[" + std::to_string(i) + "]";
      s.at = mark_of(item);
      if (!item.IsMap()) {
        error(s.at, s.display + " must be a map of keys (key: value lines or {key: value})");
        out.push_back(std::move(s));
        continue;
      }
      s.present = true;
      // A list whose items have a `type` choice: the type decides the further keys.
      if (const Key* type_key = schema::find(s.schema + ".type"); type_key && type_key->type == Type::kChoice) {
        std::string type;
        for (auto it = item.begin(); it != item.end(); ++it) {
          if (it->first.IsScalar() && it->first.Scalar() == "type" && it->second.IsScalar()) {
            type = expand_quiet(it->second.Scalar());
          }
        }
        auto choices = schema::split_choices(type_key->choices);
        if (std::find(choices.begin(), choices.end(), type) != choices.end()) {
          s.variant = std::string(k.path) + "[" + type + "]";
        } else {
          s.variant = "?";  // unknown type: reported by the type key; skip unknown-key checks
        }
      }
      open_map(item, &s);
      out.push_back(std::move(s));
    }
    return out;
  }

  // ---- scalars. Each returns the value, the table default when absent, or nullopt when
  // absent without a literal default; a bad value is reported and treated as absent.

  std::optional<std::string> str(const Section& s, const char* key) {
    const Key& k = spec(s, key, Type::kString);
    auto text = scalar(s, key, k, "a string");
    if (!text) return literal_default(k);
    return text;
  }

  std::optional<std::string> bytes(const Section& s, const char* key) {
    const Key& k = spec(s, key, Type::kBytes);
    auto text = scalar(s, key, k, "a string");
    if (!text) {
      auto d = literal_default(k);
      if (!d) return d;
      std::string decoded, why;
      unescape(*d, &decoded, &why);
      return decoded;
    }
    std::string decoded, why;
    if (!unescape(*text, &decoded, &why)) {
      error(where_value(s, key), s.where(key) + ": " + why);
      return literal_default(k);
    }
    return decoded;
  }

  std::optional<std::int64_t> integer(const Section& s, const char* key) {
    const Key& k = spec(s, key, Type::kInt);
    auto text = scalar(s, key, k, "a whole number");
    if (!text) return default_int(k);
    std::int64_t v = 0;
    const char* b = text->data();
    const char* e = b + text->size();
    if (b != e && *b == '+') ++b;
    auto [end, ec] = std::from_chars(b, e, v);
    if (text->empty() || ec != std::errc() || end != e) {
      error(where_value(s, key), s.where(key) + " must be a whole number");
      return default_int(k);
    }
    if (v < k.min || v > k.max) {
      error(where_value(s, key), s.where(key) + " must be between " + std::to_string(k.min) + " and " +
                                     std::to_string(k.max));
      return default_int(k);
    }
    return v;
  }

  std::optional<bool> boolean(const Section& s, const char* key) {
    const Key& k = spec(s, key, Type::kBool);
    auto text = scalar(s, key, k, "true or false");
    if (!text) text = literal_default(k);
    if (!text) return std::nullopt;
    static const std::set<std::string> kTrue = {"true", "True", "TRUE", "yes", "Yes", "on", "On"};
    static const std::set<std::string> kFalse = {"false", "False", "FALSE", "no", "No", "off", "Off"};
    if (kTrue.count(*text)) return true;
    if (kFalse.count(*text)) return false;
    error(where_value(s, key), s.where(key) + " must be true or false");
    return k.def && std::string_view(k.def) == "true";
  }

  std::optional<std::int64_t> duration_ms(const Section& s, const char* key) {
    const Key& k = spec(s, key, Type::kDuration);
    auto text = scalar(s, key, k, "a duration");
    if (!text) return k.def && k.def[0] != '<' ? parse_duration_ms(k.def) : std::nullopt;
    auto v = parse_duration_ms(*text);
    if (!v) {
      error(where_value(s, key), s.where(key) + ": '" + *text +
                                     "' is not a duration; write e.g. 200ms, 10s, 5m, 1h or 7d (no space)");
      return k.def ? parse_duration_ms(k.def) : std::nullopt;
    }
    if (*v < k.min || (k.max > 0 && *v > k.max)) {
      error(where_value(s, key), s.where(key) + " must be between " + format_duration_ms(k.min) + " and " +
                                     format_duration_ms(k.max));
      return k.def ? parse_duration_ms(k.def) : std::nullopt;
    }
    return v;
  }

  std::optional<std::uint64_t> size_bytes(const Section& s, const char* key) {
    const Key& k = spec(s, key, Type::kSize);
    auto text = scalar(s, key, k, "a size");
    if (!text) return k.def ? parse_size_bytes(k.def) : std::nullopt;
    auto v = parse_size_bytes(*text);
    if (!v) {
      error(where_value(s, key), s.where(key) + ": '" + *text +
                                     "' is not a size; write e.g. 4096, 64KiB, 16MiB, 1GiB or 5MB (no space)");
      return k.def ? parse_size_bytes(k.def) : std::nullopt;
    }
    if (*v < static_cast<std::uint64_t>(k.min) || (k.max > 0 && *v > static_cast<std::uint64_t>(k.max))) {
      error(where_value(s, key), s.where(key) + " must be between " + format_size(static_cast<std::uint64_t>(k.min)) +
                                     " and " + format_size(static_cast<std::uint64_t>(k.max)));
      return k.def ? parse_size_bytes(k.def) : std::nullopt;
    }
    return v;
  }

  std::optional<Rate> rate(const Section& s, const char* key) {
    const Key& k = spec(s, key, Type::kRate);
    auto text = scalar(s, key, k, "a rate");
    if (!text) return std::nullopt;
    auto v = parse_rate(*text);
    if (!v) {
      error(where_value(s, key), s.where(key) + ": '" + *text + "' is not a rate; write e.g. 500/s or 1MiB/s");
    }
    return v;
  }

  std::optional<std::string> choice(const Section& s, const char* key) {
    const Key& k = spec(s, key, Type::kChoice);
    auto text = scalar(s, key, k, "one of " + join_choices(schema::split_choices(k.choices), " or "));
    if (!text) return literal_default(k);
    auto choices = schema::split_choices(k.choices);
    if (std::find(choices.begin(), choices.end(), *text) != choices.end()) return text;
    std::string msg = s.where(key) + " must be " + join_choices(choices, " or ");
    if (std::string near = base::closest_name(*text, choices); !near.empty()) msg += " (did you mean '" + near + "'?)";
    error(where_value(s, key), msg);
    return std::nullopt;
  }

  std::vector<std::string> string_list(const Section& s, const char* key) {
    const Key& k = spec(s, key, Type::kStringList);
    std::vector<std::string> out;
    const YAML::Node* v = s.value(key);
    if (!s.present || !v) return out;
    (void)k;
    if (!v->IsSequence()) {
      error(mark_of(*v), s.where(key) + " must be a list of strings ([a, b, c])");
      return out;
    }
    for (std::size_t i = 0; i < v->size(); ++i) {
      const YAML::Node item = (*v)[i];
      if (!item.IsScalar()) {
        error(mark_of(item), s.where(key) + "[" + std::to_string(i) + "] must be a string");
        continue;
      }
      out.push_back(expand(item.Scalar(), mark_of(item)));
    }
    return out;
  }

  std::map<std::string, std::string> string_map(const Section& s, const char* key) {
    spec(s, key, Type::kStringMap);
    std::map<std::string, std::string> out;
    const YAML::Node* v = s.value(key);
    if (!s.present || !v) return out;
    if (!v->IsMap()) {
      error(mark_of(*v), s.where(key) + " must be a map of name: value");
      return out;
    }
    for (auto it = v->begin(); it != v->end(); ++it) {
      if (!it->first.IsScalar() || !it->second.IsScalar()) {
        error(mark_of(it->first), s.where(key) + ": every entry must be name: value (strings)");
        continue;
      }
      out[it->first.Scalar()] = expand(it->second.Scalar(), mark_of(it->second));
    }
    return out;
  }

  // A readable file (TLS material).
  std::optional<std::string> path(const Section& s, const char* key) {
    const Key& k = spec(s, key, Type::kPath);
    auto text = scalar(s, key, k, "a file path");
    if (!text || text->empty()) return std::nullopt;
    if (options_.touch_files && ::access(text->c_str(), R_OK) != 0) {
      error(where_value(s, key), s.where(key) + ": cannot read " + *text);
    }
    return text;
  }

  // password / password_env / password_file of a section.
  Secret secret(const Section& s, const char* credential_example) {
    Secret out;
    spec(s, "password", Type::kForbidden);
    spec(s, "password_env", Type::kEnvName);
    spec(s, "password_file", Type::kSecretFile);
    if (!s.present) return out;
    if (s.find("password")) {
      error(where_value(s, "password"),
            s.display + ": a password is never written in the config in clear; use password_file (e.g. "
                        "${CREDENTIALS_DIRECTORY}/" + credential_example + ") or password_env");
    }
    const YAML::Node* env_node = s.value("password_env");
    const YAML::Node* file_node = s.value("password_file");
    if (env_node && file_node) {
      error(where_value(s, "password_file"), s.display + ": set password_env or password_file, not both");
      return out;
    }
    if (env_node) {
      auto name = scalar(s, "password_env", *schema::find(spec_path(s, "password_env")), "a variable name");
      if (!name) return out;
      if (name->empty() || name->find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") !=
                               std::string::npos) {
        error(where_value(s, "password_env"),
              s.where("password_env") + ": '" + *name + "' is not an environment variable name");
        return out;
      }
      auto value = env(*name);
      if (!value) {
        error(where_value(s, "password_env"), "environment variable " + *name + " is not set");
        return out;
      }
      if (value->empty()) warning(where_value(s, "password_env"), "environment variable " + *name + " is empty");
      out.value = *value;
      out.origin = "environment variable " + *name;
    }
    if (file_node) {
      auto file = scalar(s, "password_file", *schema::find(spec_path(s, "password_file")), "a file path");
      if (!file || file->empty()) return out;
      out.origin = "file " + *file;
      if (!options_.touch_files) return out;
      std::ifstream in(*file, std::ios::binary);
      if (!in) {
        error(where_value(s, "password_file"), s.where("password_file") + ": cannot read " + *file + " (" +
                                                   std::strerror(errno) + ")");
        return out;
      }
      std::string v((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
      if (v.empty()) warning(where_value(s, "password_file"), s.where("password_file") + ": " + *file + " is empty");
      out.value = std::move(v);
    }
    return out;
  }

  // Where a key's value is, or the section when it is absent.
  Location where_value(const Section& s, std::string_view key) const {
    const YAML::Node* v = s.find(key);
    if (v) {
      Location l = mark_of(*v);
      if (l.line > 0) return l;
      for (const auto& [k, val] : s.entries) {
        if (k.IsScalar() && k.Scalar() == key) return mark_of(k);
      }
    }
    return s.at;
  }

  // ${VAR}, ${VAR:-default}; $${ is a literal ${. Unset variables are reported at `at`.
  std::string expand(const std::string& text, Location at) {
    std::string out, err;
    expand_into(text, &out, &err);
    if (!err.empty()) error(at, err);
    return out;
  }

 private:
  std::string spec_path(const Section& s, std::string_view key) const {
    std::string p = s.schema.empty() ? std::string(key) : s.schema + "." + std::string(key);
    if (schema::find(p)) return p;
    if (!s.variant.empty() && s.variant != "?") {
      std::string v = s.variant + "." + std::string(key);
      if (schema::find(v)) return v;
    }
    return p;
  }

  // The table entry for a key the binding layer reads. A key missing from the table is a bug
  // in this file; it is reported (never silently accepted) so tests catch it.
  const Key& spec(const Section& s, std::string_view key, Type type) {
    static const Key kMissing{.path = "?", .type = Type::kString};
    std::string p = spec_path(s, key);
    const Key* k = schema::find(p);
    if (!k || k->type != type) {
      error(s.at, "internal: config key " + p + " is not declared as " + schema::type_name(type) + " in the table");
      return kMissing;
    }
    touched_.insert(k->path);
    return *k;
  }

  std::optional<std::string> literal_default(const Key& k) {
    if (!k.def || k.def[0] == '<') return std::nullopt;
    return std::string(k.def);
  }
  std::optional<std::int64_t> default_int(const Key& k) {
    if (!k.def) return std::nullopt;
    return std::strtoll(k.def, nullptr, 10);
  }

  // The expanded scalar text of a key, or nullopt when absent/null or not a scalar (reported).
  std::optional<std::string> scalar(const Section& s, std::string_view key, const Key& k, const std::string& what) {
    (void)k;
    if (!s.present) return std::nullopt;
    const YAML::Node* v = s.value(key);
    if (!v) return std::nullopt;
    if (!v->IsScalar()) {
      error(mark_of(*v), s.where(key) + " must be " + what + ", not a " + (v->IsMap() ? "map" : "list"));
      return std::nullopt;
    }
    // A value whose ${VAR} could not be expanded is reported once and then treated as
    // absent, so no second error is derived from a half-expanded text.
    std::string out, err;
    expand_into(v->Scalar(), &out, &err);
    if (!err.empty()) {
      error(mark_of(*v), err);
      return std::nullopt;
    }
    return out;
  }

  std::string expand_quiet(const std::string& text) {
    std::string out, err;
    expand_into(text, &out, &err);
    return out;
  }

  void expand_into(const std::string& s, std::string* out, std::string* err) {
    for (std::size_t i = 0; i < s.size();) {
      if (s.compare(i, 3, "$${") == 0) {
        *out += "${";
        i += 3;
        continue;
      }
      if (s.compare(i, 2, "${") != 0) {
        *out += s[i++];
        continue;
      }
      std::size_t close = s.find('}', i);
      if (close == std::string::npos) {
        if (err->empty()) *err = "unterminated ${ in '" + s + "' (write $${ for a literal ${)";
        *out += s.substr(i);
        return;
      }
      std::string inner = s.substr(i + 2, close - i - 2);
      std::optional<std::string> fallback;
      if (auto p = inner.find(":-"); p != std::string::npos) {
        fallback = inner.substr(p + 2);
        inner = inner.substr(0, p);
      }
      if (inner.empty() || inner.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") !=
                               std::string::npos) {
        if (err->empty()) *err = "'${" + inner + "}' is not a valid ${VARIABLE} reference";
      } else if (auto v = env(inner)) {
        *out += *v;
      } else if (fallback) {
        *out += *fallback;
      } else if (err->empty()) {
        *err = "environment variable " + inner + " is not set";
        if (inner == "CREDENTIALS_DIRECTORY") {
          *err += " (systemd sets it for LoadCredential=/SetCredential=; outside systemd export it, or use "
                  "password_env)";
        }
      }
      i = close + 1;
    }
  }

  static bool unescape(const std::string& in, std::string* out, std::string* why) {
    for (std::size_t i = 0; i < in.size(); ++i) {
      if (in[i] != '\\') {
        *out += in[i];
        continue;
      }
      if (i + 1 >= in.size()) {
        *why = "a lone '\\' at the end; write \\\\ for a backslash";
        return false;
      }
      char c = in[++i];
      switch (c) {
        case 'n': *out += '\n'; break;
        case 'r': *out += '\r'; break;
        case 't': *out += '\t'; break;
        case '0': *out += '\0'; break;
        case '\\': *out += '\\'; break;
        case 'x': {
          unsigned v = 0;
          if (i + 2 >= in.size()) {
            *why = "\\x needs two hex digits (e.g. \\x03)";
            return false;
          }
          auto [end, ec] = std::from_chars(in.data() + i + 1, in.data() + i + 3, v, 16);
          if (ec != std::errc() || end != in.data() + i + 3) {
            *why = "\\x needs two hex digits (e.g. \\x03)";
            return false;
          }
          *out += static_cast<char>(v);
          i += 2;
          break;
        }
        default:
          *why = std::string("unknown escape \\") + c + "; use \\n \\r \\t \\0 \\\\ or \\xHH";
          return false;
      }
    }
    return true;
  }

  // Collects the entries of a map, reports keys that are unknown, duplicated or not strings,
  // and required keys that are missing.
  void open_map(const YAML::Node& node, Section* s) {
    std::vector<const Key*> allowed = schema::children(s->schema);
    if (!s->variant.empty() && s->variant != "?") {
      auto more = schema::children(s->variant);
      allowed.insert(allowed.end(), more.begin(), more.end());
    }
    std::vector<std::string> names;
    for (const Key* k : allowed) names.emplace_back(schema::leaf(k->path));
    const std::string where = s->display.empty() ? "the config" : s->display;
    std::map<std::string, int> first_line;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node k = it->first;
      const YAML::Node v = it->second;
      if (!k.IsScalar()) {
        error(mark_of(k), "a key in " + where + " must be a plain name, not a " + (k.IsMap() ? "map" : "list"));
        continue;
      }
      const std::string name = k.Scalar();
      if (auto [pos, fresh] = first_line.emplace(name, mark_of(k).line); !fresh) {
        error(mark_of(k), "key '" + name + "' appears twice in " + where + " (first on line " +
                              std::to_string(pos->second) + ")");
        continue;
      }
      s->entries.emplace_back(k, v);
      if (s->variant == "?") continue;
      if (std::find(names.begin(), names.end(), name) == names.end()) {
        std::string msg = "unknown key '" + name + "' in " + where;
        if (std::string near = base::closest_name(name, names); !near.empty()) msg += " (did you mean '" + near + "'?)";
        error(mark_of(k), msg);
      }
    }
    // Required keys of the item itself (name, type) are checked even when its type is unknown.
    for (const Key* k : allowed) {
      if (!k->required) continue;
      const YAML::Node* v = s->find(schema::leaf(k->path));
      bool missing = !v || v->IsNull() || (v->IsScalar() && expand_quiet(v->Scalar()).empty()) ||
                     (v->IsSequence() && v->size() == 0);
      if (missing) error(s->at, where + " needs " + k->required);
    }
  }

  std::string file_;
  const LoadOptions& options_;
  std::vector<Diagnostic> diagnostics_;
  std::set<std::string> touched_;
};

std::string hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "outpost";
  return buf;
}

bool valid_host_port(const std::string& hp, bool port_zero_ok = false) {
  std::size_t colon = hp.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= hp.size()) return false;
  std::string port = hp.substr(colon + 1);
  if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5) return false;
  int p = std::stoi(port);
  return (p >= 1 || (port_zero_ok && p == 0)) && p <= 65535;
}

template <typename E>
E pick(const std::optional<std::string>& v, std::initializer_list<std::pair<const char*, E>> map, E def) {
  if (!v) return def;
  for (const auto& [name, e] : map) {
    if (*v == name) return e;
  }
  return def;
}

// ---- binding --------------------------------------------------------------------------------

void read_agent(Reader& r, const Section& root, Config* c) {
  Section a = r.section(root, "agent");
  c->agent.id = r.str(a, "id").value_or(hostname());
  if (c->agent.id.empty()) r.error(r.where_value(a, "id"), "agent.id must not be empty");
  c->agent.data_dir = r.str(a, "data_dir").value_or("");
  if (c->agent.data_dir.empty()) r.error(r.where_value(a, "data_dir"), "agent.data_dir must not be empty");
  Section http = r.section(a, "http");
  c->agent.http_listen = r.str(http, "listen").value_or("");
  if (!c->agent.http_listen.empty() && !valid_host_port(c->agent.http_listen, /*port_zero_ok=*/true)) {
    r.error(r.where_value(http, "listen"),
            "agent.http.listen: '" + c->agent.http_listen + "' is not host:port (e.g. 127.0.0.1:8470)");
  }
  c->agent.log_level = pick(r.choice(a, "log_level"),
                            {{"debug", LogLevel::kDebug}, {"info", LogLevel::kInfo}, {"warning", LogLevel::kWarning},
                             {"error", LogLevel::kError}},
                            LogLevel::kInfo);
}

void read_storage(Reader& r, const Section& root, Config* c) {
  Section s = r.section(root, "storage");
  store::Options& o = c->storage;
  o.data_dir = c->agent.data_dir;
  o.segment_bytes = r.size_bytes(s, "segment_size").value_or(o.segment_bytes);
  o.block_bytes = static_cast<std::uint32_t>(r.size_bytes(s, "block_size").value_or(o.block_bytes));
  Section f = r.section(s, "flush");
  o.flush_interval_ms = r.duration_ms(f, "interval").value_or(o.flush_interval_ms);
  o.flush_bytes = r.size_bytes(f, "bytes").value_or(o.flush_bytes);
  o.fsync = pick(r.choice(s, "fsync"), {{"always", store::FsyncMode::kAlways}, {"never", store::FsyncMode::kNever}},
                 store::FsyncMode::kAlways);
  o.zstd_level = static_cast<int>(r.integer(s, "zstd_level").value_or(o.zstd_level));
  o.quota_bytes = r.size_bytes(s, "quota").value_or(0);
  o.on_full = pick(r.choice(s, "on_full"),
                   {{"drop_oldest", store::FullPolicy::kDropOldest}, {"reject_new", store::FullPolicy::kRejectNew}},
                   store::FullPolicy::kDropOldest);
  if (o.block_bytes > o.segment_bytes) {
    r.error(r.where_value(s, "block_size"), "storage.block_size must not be larger than storage.segment_size");
  }
  if (o.quota_bytes > 0 && o.quota_bytes < 2 * o.segment_bytes) {
    r.error(r.where_value(s, "quota"),
            "storage.quota must be at least two segments (2 x storage.segment_size = " +
                format_size(2 * o.segment_bytes) + "): retention frees whole segments");
  }
}

Backoff read_backoff(Reader& r, const Section& parent, const char* key) {
  Section b = r.section(parent, key);
  Backoff out;
  out.min_ms = r.duration_ms(b, "min").value_or(0);
  out.max_ms = r.duration_ms(b, "max").value_or(0);
  if (out.min_ms > out.max_ms) {
    r.error(r.where_value(b, "min"), b.display + ".min must not be longer than " + b.display + ".max");
  }
  return out;
}

// The streams sources, queries and mirrors may name (read before them).
struct StreamIndex {
  std::vector<std::string> declared;  // under streams
  std::vector<std::string> all;       // + dead letters, query results, late streams
  std::set<std::string> dead_letters;
  std::set<std::string> query_outputs;
  bool has(const std::string& n) const { return std::find(declared.begin(), declared.end(), n) != declared.end(); }
};

StreamIndex index_streams(const Config& c) {
  StreamIndex x;
  for (const auto& s : c.streams) x.declared.push_back(s.name);
  for (const auto& s : c.streams) x.dead_letters.insert(s.dead_letter);
  for (const auto& q : c.queries) {
    x.query_outputs.insert(q.result_stream);
    x.query_outputs.insert(q.late_stream);
  }
  x.all = c.all_stream_names();
  return x;
}

// A source writes `stream`: it must be declared, and not be a query's output.
void check_source_stream(Reader& r, const StreamIndex& x, Location at, const std::string& stream) {
  if (stream.empty()) return;
  if (!x.has(stream)) {
    std::string msg = "stream '" + stream + "' is not declared under streams";
    if (auto near = base::closest_name(stream, x.declared); !near.empty()) msg += " (did you mean '" + near + "'?)";
    r.error(at, msg);
  } else if (x.query_outputs.count(stream)) {
    r.error(at, "stream '" + stream + "' is written by a query; a source cannot write it too");
  }
}

void read_mqtt(Reader& r, const Section& s, const std::string& name, const StreamIndex& x, Config* c) {
  MqttSourceConfig o;
  o.name = name;
  o.at = s.at;
  o.broker = r.str(s, "broker").value_or("");
  bool tls_scheme = false;
  if (!o.broker.empty()) {
    static const std::pair<const char*, bool> kSchemes[] = {{"tcp://", false}, {"mqtt://", false},
                                                             {"ws://", false},  {"ssl://", true},
                                                             {"mqtts://", true}, {"tls://", true},
                                                             {"wss://", true}};
    bool known = false;
    for (const auto& [scheme, tls] : kSchemes) {
      if (o.broker.rfind(scheme, 0) == 0) {
        known = true;
        tls_scheme = tls;
        std::string rest = o.broker.substr(std::strlen(scheme));
        std::string hostport = rest.substr(0, rest.find('/'));
        if (!valid_host_port(hostport)) {
          r.error(r.where_value(s, "broker"), s.where("broker") + ": '" + o.broker +
                                                  "' needs host:port after the scheme (e.g. tcp://127.0.0.1:1883)");
        }
      }
    }
    if (!known) {
      r.error(r.where_value(s, "broker"), s.where("broker") + ": '" + o.broker +
                                              "' must start with tcp://, mqtt://, ssl://, mqtts://, tls://, ws:// or wss://");
    }
  }
  o.client_id = r.str(s, "client_id").value_or("outpost-" + c->agent.id + "-" + name);
  if (o.client_id.empty() || o.client_id.size() > 65535) {
    r.error(r.where_value(s, "client_id"), s.where("client_id") + " must be 1 to 65535 bytes");
  }
  o.protocol = pick(r.choice(s, "protocol"), {{"3.1.1", MqttProtocol::kV311}, {"5", MqttProtocol::kV5}},
                    MqttProtocol::kV311);
  o.clean_session = r.boolean(s, "clean_session").value_or(false);
  o.session_expiry_s = r.duration_ms(s, "session_expiry").value_or(0) / 1000;
  o.keepalive_s = r.duration_ms(s, "keepalive").value_or(30000) / 1000;
  o.connect_timeout_s = r.duration_ms(s, "connect_timeout").value_or(10000) / 1000;
  o.username = r.str(s, "username").value_or("");
  o.password = r.secret(s, "mqtt-password");
  if (!o.password.empty() && o.username.empty()) {
    r.warning(s.at, s.display + ": a password without a username is not sent by MQTT 3.1.1 clients");
  }
  Section tls = r.section(s, "tls");
  o.tls.enabled = tls_scheme;
  o.tls.ca_file = r.path(tls, "ca_file").value_or("");
  o.tls.cert_file = r.path(tls, "cert_file").value_or("");
  o.tls.key_file = r.path(tls, "key_file").value_or("");
  o.tls.verify = r.boolean(tls, "verify").value_or(true);
  if (tls.present && !tls_scheme && !o.broker.empty()) {
    r.warning(tls.at, s.display + ".tls is ignored: broker " + o.broker +
                          " is not a TLS address (use ssl://, mqtts://, tls:// or wss://)");
  }
  if (o.tls.cert_file.empty() != o.tls.key_file.empty()) {
    r.error(tls.at, s.display + ".tls: cert_file and key_file go together (mutual TLS needs both)");
  }
  if (tls.present && !o.tls.verify) {
    r.warning(r.where_value(tls, "verify"),
              s.display + ".tls.verify is false: the broker's identity is not checked (anyone on the path can "
                          "impersonate it)");
  }
  o.reconnect = read_backoff(r, s, "reconnect");
  o.max_inflight = static_cast<int>(r.integer(s, "max_inflight").value_or(100));
  o.ack = pick(r.choice(s, "ack"), {{"written", AckMode::kWritten}, {"durable", AckMode::kDurable}},
               AckMode::kWritten);
  o.persistence_dir = c->agent.data_dir / "mqtt" / name;
  std::set<std::string> filters;
  bool any_qos = false;
  for (const Section& sub : r.items(s, "subscriptions")) {
    MqttSubscriptionConfig m;
    m.at = sub.at;
    m.filter = r.str(sub, "topic").value_or("");
    m.qos = static_cast<int>(r.integer(sub, "qos").value_or(1));
    m.stream = r.str(sub, "stream").value_or("");
    if (!m.filter.empty()) {
      if (std::string why = check_topic_filter(m.filter); !why.empty()) {
        r.error(r.where_value(sub, "topic"), sub.where("topic") + ": '" + m.filter + "': " + why);
      } else if (!filters.insert(m.filter).second) {
        r.error(r.where_value(sub, "topic"),
                sub.where("topic") + ": '" + m.filter + "' is subscribed twice in source '" + name + "'");
      }
    }
    check_source_stream(r, x, r.where_value(sub, "stream"), m.stream);
    any_qos |= m.qos > 0;
    o.subscriptions.push_back(std::move(m));
  }
  if (o.clean_session && any_qos) {
    r.warning(r.where_value(s, "clean_session"),
              s.display + ".clean_session is true: QoS 1/2 messages published while Outpost is down are lost");
  }
  c->mqtt_sources.push_back(std::move(o));
}

void read_serial(Reader& r, const Section& s, const std::string& name, const StreamIndex& x, Config* c) {
  static const std::set<std::int64_t> kStandardRates = {
      50,     75,     110,    134,    150,    200,     300,     600,     1200,    1800,
      2400,   4800,   9600,   19200,  38400,  57600,   115200,  230400,  460800,  500000,
      576000, 921600, 1000000, 1152000, 1500000, 2000000, 2500000, 3000000, 3500000, 4000000};
  SerialSourceConfig o;
  o.name = name;
  o.at = s.at;
  o.device = r.str(s, "device").value_or("");
  if (!o.device.empty() && o.device[0] != '/') {
    r.error(r.where_value(s, "device"), s.where("device") + ": '" + o.device + "' must be an absolute path (/dev/...)");
  }
  auto baud = r.integer(s, "baud");
  if (baud && !kStandardRates.count(*baud)) {
    r.error(r.where_value(s, "baud"), s.where("baud") + ": " + std::to_string(*baud) +
                                          " is not a standard rate; use e.g. 9600, 19200, 38400, 57600 or 115200");
  }
  o.baud = static_cast<std::uint32_t>(baud.value_or(9600));
  o.data_bits = static_cast<int>(r.integer(s, "data_bits").value_or(8));
  o.parity = pick(r.choice(s, "parity"),
                  {{"none", SerialParity::kNone}, {"even", SerialParity::kEven}, {"odd", SerialParity::kOdd}},
                  SerialParity::kNone);
  o.stop_bits = static_cast<int>(r.integer(s, "stop_bits").value_or(1));
  o.flow_control = pick(r.choice(s, "flow_control"),
                        {{"none", SerialFlowControl::kNone}, {"rtscts", SerialFlowControl::kRtsCts}},
                        SerialFlowControl::kNone);
  o.framing = pick(r.choice(s, "framing"), {{"line", SerialFraming::kLine}, {"fixed", SerialFraming::kFixed}},
                   SerialFraming::kLine);
  o.delimiter = r.bytes(s, "delimiter").value_or("\n");
  if (o.delimiter.empty()) r.error(r.where_value(s, "delimiter"), s.where("delimiter") + " must not be empty");
  o.strip_cr = r.boolean(s, "strip_cr").value_or(true);
  o.max_line_bytes = r.size_bytes(s, "max_line").value_or(4096);
  auto frame = r.size_bytes(s, "frame_bytes");
  o.frame_bytes = frame.value_or(0);
  if (o.framing == SerialFraming::kFixed && !s.value("frame_bytes")) {
    r.error(s.at, s.display + ": framing fixed needs frame_bytes");
  }
  if (o.framing == SerialFraming::kLine && s.value("frame_bytes")) {
    r.warning(r.where_value(s, "frame_bytes"), s.where("frame_bytes") + " is ignored: framing is line");
  }
  if (o.framing == SerialFraming::kFixed && s.value("delimiter")) {
    r.warning(r.where_value(s, "delimiter"), s.where("delimiter") + " is ignored: framing is fixed");
  }
  o.reopen = read_backoff(r, s, "reopen");
  o.ack = pick(r.choice(s, "ack"), {{"written", AckMode::kWritten}, {"durable", AckMode::kDurable}},
               AckMode::kWritten);
  o.stream = r.str(s, "stream").value_or("");
  check_source_stream(r, x, r.where_value(s, "stream"), o.stream);
  c->serial_sources.push_back(std::move(o));
}

void read_sources(Reader& r, const Section& root, const StreamIndex& x, Config* c) {
  std::map<std::string, Location> names;
  for (const Section& s : r.items(root, "sources")) {
    if (!s.present) continue;
    std::string name = r.str(s, "name").value_or("");
    if (!name.empty() && !names.emplace(name, s.at).second) {
      r.error(r.where_value(s, "name"), "source '" + name + "' is declared twice");
    }
    auto type = r.choice(s, "type");
    if (type == "mqtt") {
      read_mqtt(r, s, name, x, c);
    } else if (type == "serial") {
      read_serial(r, s, name, x, c);
    }
  }
}

TimeFormat time_format_of(const std::optional<std::string>& v) {
  return pick(v,
              {{"auto", TimeFormat::kAuto},
               {"unix_s", TimeFormat::kUnixS},
               {"unix_ms", TimeFormat::kUnixMs},
               {"unix_us", TimeFormat::kUnixUs},
               {"unix_ns", TimeFormat::kUnixNs},
               {"rfc3339", TimeFormat::kRfc3339}},
              TimeFormat::kAuto);
}

void read_streams(Reader& r, const Section& root, Config* c) {
  std::map<std::string, Location> names;
  for (const Section& s : r.items(root, "streams")) {
    if (!s.present) continue;
    StreamConfig sc;
    sc.at = s.at;
    sc.name = r.str(s, "name").value_or("");
    if (!sc.name.empty()) {
      if (std::string why = store::check_stream_name(sc.name); !why.empty()) {
        r.error(r.where_value(s, "name"), s.where("name") + ": " + why);
      } else if (!names.emplace(sc.name, sc.at).second) {
        r.error(r.where_value(s, "name"), "stream '" + sc.name + "' is declared twice");
      }
    }
    sc.format = pick(r.choice(s, "format"),
                     {{"json", PayloadFormat::kJson}, {"csv", PayloadFormat::kCsv}, {"kv", PayloadFormat::kKv},
                      {"raw", PayloadFormat::kRaw}},
                     PayloadFormat::kJson);
    std::set<std::string> field_names;
    std::vector<Section> field_sections = r.items(s, "fields");
    for (const Section& f : field_sections) {
      FieldConfig fc;
      fc.at = f.at;
      fc.name = r.str(f, "name").value_or("");
      fc.type = pick(r.choice(f, "type"),
                     {{"double", FieldType::kDouble}, {"int", FieldType::kInt}, {"string", FieldType::kString},
                      {"bool", FieldType::kBool}, {"timestamp", FieldType::kTimestamp}},
                     FieldType::kString);
      fc.required = r.boolean(f, "required").value_or(false);
      if (!fc.name.empty() && !field_names.insert(fc.name).second) {
        r.error(r.where_value(f, "name"), f.where("name") + ": field '" + fc.name + "' is declared twice");
      }
      sc.fields.push_back(std::move(fc));
    }
    Section csv = r.section(s, "csv");
    sc.csv_columns = r.string_list(csv, "columns");
    std::string csv_delim = r.bytes(csv, "delimiter").value_or(",");
    if (csv_delim.size() != 1) {
      r.error(r.where_value(csv, "delimiter"), csv.where("delimiter") + " must be one character");
    } else {
      sc.csv_delimiter = csv_delim[0];
    }
    {
      std::set<std::string> seen;
      for (const auto& col : sc.csv_columns) {
        if (col.empty()) r.error(r.where_value(csv, "columns"), csv.where("columns") + ": a column name is empty");
        else if (!seen.insert(col).second) {
          r.error(r.where_value(csv, "columns"), csv.where("columns") + ": column '" + col + "' appears twice");
        }
      }
    }
    Section kv = r.section(s, "kv");
    sc.kv_separators = r.bytes(kv, "separators").value_or(" ,;\t");
    if (sc.kv_separators.empty()) {
      r.error(r.where_value(kv, "separators"), kv.where("separators") + " must not be empty");
    }
    std::string assign = r.bytes(kv, "assign").value_or("=");
    if (assign.size() != 1) {
      r.error(r.where_value(kv, "assign"), kv.where("assign") + " must be one character");
    } else {
      sc.kv_assign = assign[0];
      if (sc.kv_separators.find(sc.kv_assign) != std::string::npos) {
        r.error(r.where_value(kv, "assign"), kv.where("assign") + " must not also be one of kv.separators");
      }
    }
    sc.key_field = r.str(s, "key_field").value_or("");
    Section time = r.section(s, "time");
    sc.time_field = r.str(time, "field").value_or("");
    sc.time_format = time_format_of(r.choice(time, "format"));
    if (time.present && sc.time_field.empty()) {
      r.error(time.at, time.display + " needs a field (the payload field holding the event time)");
    }
    Section ret = r.section(s, "retention");
    sc.retention.retention_ms = r.duration_ms(ret, "age").value_or(0);
    sc.retention.retention_bytes = r.size_bytes(ret, "size").value_or(0);
    if (sc.retention.retention_bytes > 0 && sc.retention.retention_bytes < c->storage.segment_bytes) {
      r.warning(r.where_value(ret, "size"),
                ret.where("size") + " is smaller than storage.segment_size (" +
                    format_size(c->storage.segment_bytes) + "); retention removes whole segments, so up to one "
                                                             "segment more is kept");
    }
    sc.dead_letter = r.str(s, "dead_letter").value_or(sc.name + ".dead");
    if (!sc.dead_letter.empty() && (s.value("dead_letter") || store::check_stream_name(sc.name).empty())) {
      if (std::string why = store::check_stream_name(sc.dead_letter); !why.empty()) {
        r.error(r.where_value(s, "dead_letter"), s.where("dead_letter") + ": " + why);
      } else if (sc.dead_letter == sc.name) {
        r.error(r.where_value(s, "dead_letter"), s.where("dead_letter") + " must differ from the stream itself");
      }
    }
    sc.max_payload_bytes = r.size_bytes(s, "max_payload").value_or(1 << 20);

    // Combinations.
    const bool has_fields = !sc.key_field.empty() || !sc.time_field.empty() || !sc.fields.empty();
    if (sc.format == PayloadFormat::kRaw && has_fields) {
      r.error(s.at, s.display + ": a raw stream has no fields; fields, key_field and time need format json, csv or kv");
    }
    if (sc.format == PayloadFormat::kCsv && sc.csv_columns.empty()) {
      if (!csv.present) r.error(s.at, s.display + ": format csv needs csv: {columns: [name, ...]}");
      else r.error(csv.at, csv.display + " needs columns: [name, ...]");
    }
    if (sc.format != PayloadFormat::kCsv && csv.present) {
      r.warning(csv.at, csv.display + " is ignored: the stream's format is not csv");
    }
    if (sc.format != PayloadFormat::kKv && kv.present) {
      r.warning(kv.at, kv.display + " is ignored: the stream's format is not kv");
    }
    if (sc.format == PayloadFormat::kCsv && !sc.csv_columns.empty()) {
      auto column = [&](const std::string& n) {
        return std::find(sc.csv_columns.begin(), sc.csv_columns.end(), n) != sc.csv_columns.end();
      };
      if (!sc.key_field.empty() && !column(sc.key_field)) {
        r.error(r.where_value(s, "key_field"), s.where("key_field") + ": '" + sc.key_field + "' is not one of the csv columns");
      }
      if (!sc.time_field.empty() && !column(sc.time_field)) {
        r.error(r.where_value(time, "field"), time.where("field") + ": '" + sc.time_field + "' is not one of the csv columns");
      }
      for (std::size_t j = 0; j < sc.fields.size(); ++j) {
        if (!sc.fields[j].name.empty() && !column(sc.fields[j].name)) {
          r.error(r.where_value(field_sections[j], "name"),
                  field_sections[j].where("name") + ": '" + sc.fields[j].name + "' is not one of the csv columns");
        }
      }
    }
    for (std::size_t j = 0; j < sc.fields.size(); ++j) {
      if (sc.fields[j].name == sc.time_field && sc.fields[j].type == FieldType::kBool) {
        r.error(r.where_value(field_sections[j], "type"),
                field_sections[j].where("type") + ": the time field cannot be a bool");
      }
    }
    c->streams.push_back(std::move(sc));
  }
}

void read_queries(Reader& r, const Section& root, Config* c) {
  std::map<std::string, Location> names;
  for (const Section& s : r.items(root, "queries")) {
    if (!s.present) continue;
    QueryConfig q;
    q.at = s.at;
    q.name = r.str(s, "name").value_or("");
    if (!q.name.empty() && !names.emplace(q.name, q.at).second) {
      r.error(r.where_value(s, "name"), "query '" + q.name + "' is declared twice");
    }
    q.sql = r.str(s, "sql").value_or("");
    q.sql_at = r.where_value(s, "sql");
    q.result_stream = r.str(s, "result_stream").value_or(q.name);
    q.late_policy = pick(r.choice(s, "late_policy"), {{"drop", LatePolicy::kDrop}, {"update", LatePolicy::kUpdate}},
                         LatePolicy::kDrop);
    q.late_stream = r.str(s, "late_stream").value_or(q.name.empty() ? "" : q.name + ".late");
    q.allowed_lateness_ms = r.duration_ms(s, "allowed_lateness").value_or(0);
    q.idle_timeout_ms = r.duration_ms(s, "idle_timeout").value_or(0);
    q.start = pick(r.choice(s, "start"), {{"latest", QueryStart::kLatest}, {"earliest", QueryStart::kEarliest}},
                   QueryStart::kLatest);
    q.checkpoint_interval_ms = r.duration_ms(s, "checkpoint_interval").value_or(5000);
    for (const char* key : {"result_stream", "late_stream"}) {
      const std::string& v = std::string_view(key) == "result_stream" ? q.result_stream : q.late_stream;
      if (v.empty()) continue;
      if (std::string why = store::check_stream_name(v); !why.empty()) {
        r.error(r.where_value(s, key), s.where(key) + ": " + why);
      }
    }
    if (!q.name.empty() && q.result_stream == q.late_stream) {
      r.error(r.where_value(s, "late_stream"), s.where("late_stream") + " must differ from the result stream");
    }
    if (q.late_policy == LatePolicy::kDrop && q.allowed_lateness_ms > 0) {
      r.warning(r.where_value(s, "allowed_lateness"),
                s.where("allowed_lateness") + " is used only with late_policy update; late events are dropped");
    }
    c->queries.push_back(std::move(q));
  }
}

void read_central(Reader& r, const Section& root, const StreamIndex& x, Config* c) {
  Section s = r.section(root, "central");
  CentralConfig& cc = c->central;
  cc.enabled = s.present;
  cc.at = s.at;
  cc.brokers = r.str(s, "brokers").value_or("");
  if (!cc.brokers.empty()) {
    std::stringstream in(cc.brokers);
    std::string one;
    while (std::getline(in, one, ',')) {
      one.erase(0, one.find_first_not_of(' '));
      one.erase(one.find_last_not_of(' ') + 1);
      if (!valid_host_port(one)) {
        r.error(r.where_value(s, "brokers"), "central.brokers: '" + one + "' is not host:port (e.g. kafka-1:9092)");
      }
    }
  }
  cc.security_protocol = r.choice(s, "security_protocol").value_or("plaintext");
  const bool sasl_protocol = cc.security_protocol.rfind("sasl_", 0) == 0;
  const bool tls_protocol = cc.security_protocol == "ssl" || cc.security_protocol == "sasl_ssl";
  Section sasl = r.section(s, "sasl");
  cc.sasl_mechanism = r.choice(sasl, "mechanism").value_or("");
  cc.sasl_username = r.str(sasl, "username").value_or("");
  cc.sasl_password = r.secret(sasl, "kafka-password");
  if (s.present && sasl_protocol) {
    if (!sasl.present) {
      r.error(r.where_value(s, "security_protocol"),
              "central.security_protocol " + cc.security_protocol +
                  " needs central.sasl: {mechanism, username, password_env or password_file}");
    } else if (cc.sasl_password.empty() && !sasl.find("password")) {
      r.error(sasl.at, "central.sasl needs password_env or password_file");
    }
  }
  if (sasl.present && !sasl_protocol) {
    r.error(sasl.at, "central.sasl is used only with security_protocol sasl_plaintext or sasl_ssl (it is " +
                         cc.security_protocol + ")");
  }
  Section tls = r.section(s, "tls");
  cc.tls_ca_file = r.path(tls, "ca_file").value_or("");
  cc.tls_cert_file = r.path(tls, "cert_file").value_or("");
  cc.tls_key_file = r.path(tls, "key_file").value_or("");
  if (tls.present && !tls_protocol) {
    r.warning(tls.at, "central.tls is ignored: security_protocol is " + cc.security_protocol +
                          " (use ssl or sasl_ssl for TLS)");
  }
  if (cc.tls_cert_file.empty() != cc.tls_key_file.empty()) {
    r.error(tls.at, "central.tls: cert_file and key_file go together (mutual TLS needs both)");
  }
  cc.compression = r.choice(s, "compression").value_or("zstd");
  cc.gap_topic = r.str(s, "gap_topic").value_or("");
  cc.cursor_topic = r.str(s, "cursor_topic").value_or("");
  cc.properties = r.string_map(s, "properties");
  static const std::map<std::string, std::string> kOwned = {
      {"bootstrap.servers", "central.brokers"},
      {"metadata.broker.list", "central.brokers"},
      {"security.protocol", "central.security_protocol"},
      {"sasl.mechanism", "central.sasl.mechanism"},
      {"sasl.mechanisms", "central.sasl.mechanism"},
      {"sasl.username", "central.sasl.username"},
      {"sasl.password", "central.sasl.password_env or password_file (a secret never goes in properties)"},
      {"ssl.ca.location", "central.tls.ca_file"},
      {"ssl.certificate.location", "central.tls.cert_file"},
      {"ssl.key.location", "central.tls.key_file"},
      {"ssl.key.password", "a key without a password, or ask for a key password option"},
      {"compression.type", "central.compression"},
      {"compression.codec", "central.compression"},
      {"enable.idempotence", "Outpost (always on: it keeps order and avoids duplicates on retry)"},
      {"enable.gapless.guarantee", "Outpost (always on for at_least_once: keeps order per key when a batch is refused)"},
      {"transactional.id", "Outpost (from agent.id and the mirror name)"},
      {"client.id", "Outpost (from agent.id)"},
  };
  for (const auto& [k, v] : cc.properties) {
    (void)v;
    if (auto it = kOwned.find(k); it != kOwned.end()) {
      r.error(r.where_value(s, "properties"), "central.properties: '" + k + "' is set by " + it->second);
    }
  }
  std::map<std::string, Location> names;
  std::map<std::string, std::string> topics;
  for (const Section& m : r.items(s, "mirrors")) {
    if (!m.present) continue;
    MirrorConfig mc;
    mc.at = m.at;
    mc.stream = r.str(m, "stream").value_or("");
    mc.name = r.str(m, "name").value_or(mc.stream);
    mc.topic = r.str(m, "topic").value_or(mc.stream);
    mc.key = pick(r.choice(m, "key"), {{"record", MirrorKey::kRecord}, {"none", MirrorKey::kNone}}, MirrorKey::kRecord);
    mc.priority = static_cast<int>(r.integer(m, "priority").value_or(0));
    if (auto rate = r.rate(m, "max_rate")) {
      mc.max_records_per_s = rate->records_per_s;
      mc.max_bytes_per_s = rate->bytes_per_s;
    }
    mc.delivery = pick(r.choice(m, "delivery"),
                       {{"at_least_once", Delivery::kAtLeastOnce}, {"exactly_once", Delivery::kExactlyOnce}},
                       Delivery::kAtLeastOnce);
    mc.max_in_flight = r.integer(m, "max_in_flight").value_or(mc.max_in_flight);
    if (mc.delivery == Delivery::kExactlyOnce && m.value("max_in_flight")) {
      r.warning(r.where_value(m, "max_in_flight"),
                m.where("max_in_flight") + " has no effect with delivery exactly_once");
    }
    if (!mc.name.empty() && !names.emplace(mc.name, mc.at).second) {
      r.error(m.value("name") ? r.where_value(m, "name") : m.at,
              "mirror '" + mc.name + "' is declared twice" +
                  (m.value("name") ? "" : " (two mirrors of one stream need distinct names)"));
    }
    if (!mc.topic.empty()) {
      bool ok = mc.topic.size() <= 249 && mc.topic != "." && mc.topic != ".." &&
                mc.topic.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") ==
                    std::string::npos;
      if (!ok) {
        r.error(r.where_value(m, m.value("topic") ? "topic" : "stream"),
                m.where("topic") + ": '" + mc.topic + "' is not a Kafka topic name (1 to 249 of A-Z a-z 0-9 . _ -)");
      } else if (auto [it, fresh] = topics.emplace(mc.topic, mc.name); !fresh) {
        r.warning(r.where_value(m, m.value("topic") ? "topic" : "stream"),
                  m.where("topic") + ": mirrors '" + it->second + "' and '" + mc.name + "' both write topic '" +
                      mc.topic + "'");
      }
    }
    if (!mc.stream.empty() && !x.has(mc.stream) && !x.dead_letters.count(mc.stream) &&
        !x.query_outputs.count(mc.stream)) {
      std::string msg = "mirror '" + mc.name + "': stream '" + mc.stream +
                        "' is not declared under streams (nor a dead-letter stream)";
      if (auto near = base::closest_name(mc.stream, x.all); !near.empty()) msg += " (did you mean '" + near + "'?)";
      r.error(r.where_value(m, "stream"), msg);
    }
    if (mc.delivery == Delivery::kExactlyOnce && cc.cursor_topic.empty()) {
      r.error(r.where_value(m, "delivery"), m.where("delivery") + " exactly_once needs central.cursor_topic");
    }
    cc.mirrors.push_back(std::move(mc));
  }
  if (s.present && cc.mirrors.empty()) {
    r.warning(s.at, "central has no mirrors: nothing is sent");
  }
}

void read_health(Reader& r, const Section& root, Config* c) {
  Section h = r.section(root, "health");
  c->health.source_silence_ms = r.duration_ms(h, "source_silence").value_or(0);
  c->health.sync_offline_ms = r.duration_ms(h, "sync_offline").value_or(15 * 60 * 1000);
  c->health.query_lag_ms = r.duration_ms(h, "query_lag").value_or(0);
}

// Streams written by more than one kind of writer.
void cross_check(Reader& r, const StreamIndex& x, const Config& c) {
  for (const auto& s : c.streams) {
    if (x.has(s.dead_letter) && s.dead_letter != s.name) {
      r.error(s.at, "stream '" + s.name + "': its dead-letter stream '" + s.dead_letter +
                        "' is also declared as a data stream; give it its own name");
    }
  }
  std::map<std::string, std::string> query_of;
  for (const auto& q : c.queries) {
    for (const std::string* n : {&q.result_stream, &q.late_stream}) {
      if (n->empty()) continue;
      if (x.dead_letters.count(*n)) {
        r.error(q.at, "query '" + q.name + "': stream '" + *n + "' is already a dead-letter stream");
      }
      if (auto [it, fresh] = query_of.emplace(*n, q.name); !fresh && it->second != q.name) {
        r.error(q.at, "query '" + q.name + "': stream '" + *n + "' is also written by query '" + it->second + "'");
      }
    }
  }
}

Location sql_location(const QueryConfig& q) { return q.sql_at; }

std::string offset_to_sql_position(const std::string& sql, std::size_t offset) {
  offset = std::min(offset, sql.size());
  std::size_t line = 1, col = 1;
  for (std::size_t i = 0; i < offset; ++i) {
    if (sql[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return " (at SQL line " + std::to_string(line) + ", column " + std::to_string(col) + ")";
}

void check_sql(Reader& r, const Config& c, const SqlCheck& check) {
  if (!check) return;
  for (const auto& q : c.queries) {
    if (q.sql.empty()) continue;
    std::vector<SqlIssue> issues;
    try {
      issues = check(q, c);
    } catch (const std::exception& e) {
      issues.push_back({std::string("the SQL check failed: ") + e.what(), std::nullopt, false});
    }
    for (const auto& i : issues) {
      std::string msg = "query '" + q.name + "': " + i.message;
      if (i.offset) msg += offset_to_sql_position(q.sql, *i.offset);
      if (i.warning) r.warning(sql_location(q), msg);
      else r.error(sql_location(q), msg);
    }
  }
}

}  // namespace

namespace internal {

LoadResult parse(std::string_view yaml, const std::string& file_name, const LoadOptions& options,
                 std::set<std::string>* touched) {
  LoadResult result;
  Reader r(file_name, options);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::ParserException& e) {
    r.error({e.mark.line + 1, e.mark.column + 1}, e.msg);
    result.diagnostics = std::move(r.diagnostics());
    return result;
  } catch (const std::exception& e) {
    r.error({1, 1}, std::string("cannot parse the YAML: ") + e.what());
    result.diagnostics = std::move(r.diagnostics());
    return result;
  }
  Config c;
  c.file = file_name;
  try {
    if (!root.IsMap()) {
      r.error({1, 1}, "the config must be a map with agent, storage, sources, streams, queries, central");
    } else {
      Section top = r.root(root);
      read_agent(r, top, &c);
      read_storage(r, top, &c);
      read_streams(r, top, &c);
      read_queries(r, top, &c);
      const StreamIndex streams = index_streams(c);
      read_sources(r, top, streams, &c);
      read_central(r, top, streams, &c);
      read_health(r, top, &c);
      cross_check(r, streams, c);
      bool structural_errors = false;
      for (const auto& d : r.diagnostics()) structural_errors |= d.is_error();
      // SQL is checked against a consistent config only: its stream lookups need one.
      if (!structural_errors) {
        check_sql(r, c, options.sql_check ? options.sql_check : registered_sql_check());
      }
    }
  } catch (const std::exception& e) {
    r.error({1, 1}, std::string("internal error while reading the config: ") + e.what());
  }
  if (touched) *touched = r.touched();
  result.diagnostics = std::move(r.diagnostics());
  std::stable_sort(result.diagnostics.begin(), result.diagnostics.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::pair(a.at.line, a.at.column) < std::pair(b.at.line, b.at.column);
  });
  if (result.error_count() == 0) result.config = std::move(c);
  return result;
}

}  // namespace internal

LoadResult parse_config(std::string_view yaml, const std::string& file_name, const LoadOptions& options) {
  return internal::parse(yaml, file_name, options, nullptr);
}

LoadResult load_config_file(const std::string& path, const LoadOptions& options) {
  LoadResult result;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    result.diagnostics.push_back({Diagnostic::Severity::kError, path, {},
                                  std::string("cannot read the config file: ") + std::strerror(errno)});
    return result;
  }
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxConfigBytes) {
      result.diagnostics.push_back({Diagnostic::Severity::kError, path, {},
                                    "the config file is larger than 4 MiB; is it the right file?"});
      return result;
    }
  }
  return parse_config(text, path, options);
}

Result<Config> load_config(const std::string& path, const LoadOptions& options) {
  LoadResult r = load_config_file(path, options);
  if (!r.ok()) return Status::invalid_argument(r.report());
  return std::move(*r.config);
}

}  // namespace outpost::config
