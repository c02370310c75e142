// Values, payload access (simdjson DOM) and expression evaluation with SQL NULL logic.
// Size: values, the flat-payload scanner and the evaluator are the per-record hot path, kept in
// one translation unit so the compiler can inline across them; the scanner could move out.
#include <simdjson.h>
#include <xxhash.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "agent/decode/event_time.h"
#include "agent/decode/json_text.h"
#include "agent/query/functions.h"
#include "base/byte_codec.h"
#include "agent/query/query_internal.h"

namespace outpost::query::internal {

struct JsonDoc {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  // Fast path (see scan_flat): the payload was a flat object and `fields` holds the members the
  // query reads, by slot; `root` is not set then.
  bool flat = false;
  const std::vector<std::string>* names = nullptr;
  struct Field {
    Value v;             // strings are in `text`, which points into the payload
    std::string_view text;
  };
  std::vector<Field> fields;
  std::vector<unsigned char> found;
};

const char* vtype_name(VType t) {
  switch (t) {
    case VType::kNull: return "null";
    case VType::kBool: return "bool";
    case VType::kInt: return "int";
    case VType::kDouble: return "double";
    case VType::kString: return "string";
    case VType::kTimestamp: return "timestamp";
  }
  return "?";
}

const char* stype_name(SType t) {
  switch (t) {
    case SType::kNull: return "null";
    case SType::kBool: return "bool";
    case SType::kInt: return "int";
    case SType::kDouble: return "double";
    case SType::kString: return "string";
    case SType::kTimestamp: return "timestamp";
    case SType::kAny: return "any";
  }
  return "?";
}

namespace {

int type_rank(VType t) {
  switch (t) {
    case VType::kNull: return 0;
    case VType::kBool: return 1;
    case VType::kInt:
    case VType::kDouble: return 2;
    case VType::kTimestamp: return 3;
    case VType::kString: return 4;
  }
  return 5;
}

// std::to_chars(d) for the doubles results are mostly made of: short decimals (a max, min or
// sum of readings with a few decimals). Writes the text and returns true only when it is
// certainly what to_chars writes: d = m / 10^k exactly as parsed (m < 10^15 and 10^k are exact
// doubles, so one division is the correctly rounded parse), with k the fewest decimals that
// round-trip, d not a power of two (whose rounding interval is lopsided), and fixed notation
// no longer than scientific (to_chars takes the shorter, fixed on a tie). Else false: to_chars.
bool append_short_decimal(std::string* out, double d) {
  static constexpr double kPow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6};
  const double a = std::fabs(d);
  if (!(a >= 1e-3 && a < 1e15)) return false;  // also NaN, infinities and zero
  std::uint64_t bits;
  std::memcpy(&bits, &a, sizeof bits);
  if ((bits & ((std::uint64_t{1} << 52) - 1)) == 0) return false;
  // Quick reject of the long ones (an average, a sketch estimate): a * 10^6 of a decimal with at
  // most 6 places is within rounding error of a whole number. Rejecting is always safe.
  if (a < 1e9) {
    const double s6 = a * 1e6;
    const double frac = s6 - static_cast<double>(static_cast<std::int64_t>(s6 + 0.5));
    if (frac > 1e-3 || frac < -1e-3) return false;
  }
  for (int k = 0; k < 7; ++k) {
    const double scaled = a * kPow10[k];
    if (scaled >= 1e15) return false;
    const auto m = static_cast<std::uint64_t>(scaled + 0.5);
    if (static_cast<double>(m) / kPow10[k] != a) continue;
    if (k > 0 && m % 10 == 0) return false;  // a shorter k should have matched: leave it
    char digits[24];
    auto r = std::to_chars(digits, digits + sizeof digits, m);
    const int n = static_cast<int>(r.ptr - digits);  // digits of m
    int sig = n;                                     // significant digits
    if (k == 0) {
      while (sig > 1 && digits[sig - 1] == '0') --sig;
    }
    const int int_digits = n - k;  // digits before the point; <= 0 for a < 1
    const int fixed_len = (int_digits > 0 ? int_digits : 1) + (k > 0 ? 1 + k : 0);
    const int sci_len = sig + (sig > 1 ? 1 : 0) + 4;  // d[.ddd]e+XX, |exponent| < 100 here
    if (fixed_len > sci_len) return false;
    if (d < 0) out->push_back('-');
    if (int_digits > 0) {
      out->append(digits, static_cast<std::size_t>(int_digits));
      if (k > 0) {
        out->push_back('.');
        out->append(digits + int_digits, static_cast<std::size_t>(k));
      }
    } else {
      out->append("0.");
      out->append(static_cast<std::size_t>(-int_digits), '0');
      out->append(digits, static_cast<std::size_t>(n));
    }
    return true;
  }
  return false;
}

void append_double(std::string* out, double d) {
  if (append_short_decimal(out, d)) return;
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  out->append(buf, r.ptr);
}

std::string to_text(const Value& v) {
  std::string s;
  switch (v.type) {
    case VType::kNull: return "";
    case VType::kBool: return v.b ? "true" : "false";
    case VType::kInt: return std::to_string(v.i);
    case VType::kDouble:
      if (std::isnan(v.d)) return "nan";
      if (std::isinf(v.d)) return v.d > 0 ? "inf" : "-inf";
      append_double(&s, v.d);
      return s;
    case VType::kString: return v.s;
    case VType::kTimestamp: return decode::format_rfc3339_ms(v.i);
  }
  return s;
}

bool double_fits_int(double d, std::int64_t* out) {
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return false;
  const auto i = static_cast<std::int64_t>(d);
  if (static_cast<double>(i) != d) return false;
  *out = i;
  return true;
}

}  // namespace

int compare_values(const Value& a, const Value& b) {
  const int ra = type_rank(a.type), rb = type_rank(b.type);
  if (ra != rb) return ra < rb ? -1 : 1;
  switch (a.type) {
    case VType::kNull: return 0;
    case VType::kBool: return a.b == b.b ? 0 : (a.b ? 1 : -1);
    case VType::kInt:
    case VType::kDouble:
      if (a.type == VType::kInt && b.type == VType::kInt) return a.i < b.i ? -1 : a.i > b.i ? 1 : 0;
      {
        const double x = a.as_double(), y = b.as_double();
        if (x < y) return -1;
        if (x > y) return 1;
        if (x == y) {
          // Same double value: order an int before an equal double only to be a total order.
          if (a.type != b.type) return a.type == VType::kInt ? -1 : 1;
          return 0;
        }
        // NaN sorts last.
        const bool na = std::isnan(x), nb = std::isnan(y);
        return na == nb ? 0 : (na ? 1 : -1);
      }
    case VType::kTimestamp: return a.i < b.i ? -1 : a.i > b.i ? 1 : 0;
    case VType::kString: {
      const int c = a.s.compare(b.s);
      return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
  }
  return 0;
}

void append_value_json(std::string* out, const Value& v) {
  switch (v.type) {
    case VType::kNull: out->append("null"); return;
    case VType::kBool: out->append(v.b ? "true" : "false"); return;
    case VType::kInt: out->append(std::to_string(v.i)); return;
    case VType::kDouble:
      if (!std::isfinite(v.d)) {
        out->append("null");
      } else {
        append_double(out, v.d);
      }
      return;
    case VType::kString: decode::append_json_string(out, v.s); return;
    case VType::kTimestamp: {
      // Window rows repeat the same window_start/window_end for every group: remember the last
      // few texts instead of formatting each time.
      struct Cached {
        std::int64_t ms = 0;
        std::string text;
      };
      thread_local Cached cache[4];
      thread_local unsigned next = 0;
      for (const Cached& c : cache) {
        if (!c.text.empty() && c.ms == v.i) {
          out->append(c.text);
          return;
        }
      }
      Cached& c = cache[next++ % 4];
      c.ms = v.i;
      c.text.clear();
      decode::append_json_string(&c.text, decode::format_rfc3339_ms(v.i));
      out->append(c.text);
      return;
    }
  }
}

void encode_value(std::string* out, const Value& v) {
  out->push_back(static_cast<char>(v.type));
  switch (v.type) {
    case VType::kNull: return;
    case VType::kBool: out->push_back(v.b ? 1 : 0); return;
    case VType::kInt:
    case VType::kTimestamp: put_u64(out, static_cast<std::uint64_t>(v.i)); return;
    case VType::kDouble: {
      std::uint64_t bits;
      std::memcpy(&bits, &v.d, 8);
      put_u64(out, bits);
      return;
    }
    case VType::kString:
      put_u64(out, v.s.size());
      out->append(v.s);
      return;
  }
}

bool decode_value(std::string_view* in, Value* v) {
  if (in->empty()) return false;
  const auto tag = static_cast<unsigned char>((*in)[0]);
  in->remove_prefix(1);
  if (tag > static_cast<unsigned char>(VType::kTimestamp)) return false;
  *v = Value();
  v->type = static_cast<VType>(tag);
  std::uint64_t x = 0;
  switch (v->type) {
    case VType::kNull: return true;
    case VType::kBool:
      if (in->empty() || static_cast<unsigned char>((*in)[0]) > 1) return false;
      v->b = (*in)[0] == 1;
      in->remove_prefix(1);
      return true;
    case VType::kInt:
    case VType::kTimestamp:
      if (!get_u64(in, &x)) return false;
      v->i = static_cast<std::int64_t>(x);
      return true;
    case VType::kDouble:
      if (!get_u64(in, &x)) return false;
      std::memcpy(&v->d, &x, 8);
      return true;
    case VType::kString:
      if (!get_u64(in, &x) || x > in->size()) return false;
      v->s.assign(in->data(), static_cast<std::size_t>(x));
      in->remove_prefix(static_cast<std::size_t>(x));
      return true;
  }
  return false;
}

namespace {

void put_be64(std::string* out, std::uint64_t x) {
  char b[8];
  for (int k = 0; k < 8; ++k) b[k] = static_cast<char>((x >> (8 * (7 - k))) & 0xff);
  out->append(b, 8);
}

bool get_be64(std::string_view* in, std::uint64_t* x) {
  if (in->size() < 8) return false;
  std::uint64_t v = 0;
  for (std::size_t k = 0; k < 8; ++k) v = (v << 8) | static_cast<unsigned char>((*in)[k]);
  in->remove_prefix(8);
  *x = v;
  return true;
}

constexpr std::uint64_t kSignBit = 1ull << 63;

}  // namespace

void encode_key_value(std::string* out, const Value& v) {
  out->push_back(static_cast<char>(v.type));
  switch (v.type) {
    case VType::kNull: return;
    case VType::kBool: out->push_back(v.b ? 1 : 0); return;
    case VType::kInt:
    case VType::kTimestamp: put_be64(out, static_cast<std::uint64_t>(v.i) ^ kSignBit); return;
    case VType::kDouble: {
      // -0.0 and 0.0 are one group, and so are all NaNs.
      double d = v.d == 0 ? 0.0 : v.d;
      if (std::isnan(d)) d = std::numeric_limits<double>::quiet_NaN();
      std::uint64_t bits;
      std::memcpy(&bits, &d, 8);
      put_be64(out, (bits & kSignBit) ? ~bits : bits ^ kSignBit);
      return;
    }
    case VType::kString: {
      out->pop_back();
      encode_key_text(out, v.s);
      return;
    }
  }
}

void encode_key_text(std::string* out, std::string_view rest) {
  if (rest.find('\0') == std::string_view::npos) {  // the usual case: tag, text, two 0 bytes
    const std::size_t at = out->size();
    out->resize(at + rest.size() + 3);
    char* p = out->data() + at;
    *p = static_cast<char>(VType::kString);
    if (!rest.empty()) std::memcpy(p + 1, rest.data(), rest.size());
    p[rest.size() + 1] = '\0';
    p[rest.size() + 2] = '\0';
    return;
  }
  out->push_back(static_cast<char>(VType::kString));
  // Runs without a 0 byte are appended whole (GROUP BY keys are encoded once per record).
  for (;;) {
    const std::size_t z = rest.find('\0');
    if (z == std::string_view::npos) break;
    out->append(rest.data(), z + 1);
    out->push_back('\xff');
    rest.remove_prefix(z + 1);
  }
  out->append(rest);
  out->append(2, '\0');
}

bool decode_key_value(std::string_view* in, Value* v) {
  if (in->empty()) return false;
  const auto tag = static_cast<unsigned char>((*in)[0]);
  in->remove_prefix(1);
  if (tag > static_cast<unsigned char>(VType::kTimestamp)) return false;
  *v = Value();
  v->type = static_cast<VType>(tag);
  std::uint64_t x = 0;
  switch (v->type) {
    case VType::kNull: return true;
    case VType::kBool:
      if (in->empty() || static_cast<unsigned char>((*in)[0]) > 1) return false;
      v->b = (*in)[0] == 1;
      in->remove_prefix(1);
      return true;
    case VType::kInt:
    case VType::kTimestamp:
      if (!get_be64(in, &x)) return false;
      v->i = static_cast<std::int64_t>(x ^ kSignBit);
      return true;
    case VType::kDouble: {
      if (!get_be64(in, &x)) return false;
      const std::uint64_t bits = (x & kSignBit) ? x ^ kSignBit : ~x;
      std::memcpy(&v->d, &bits, 8);
      return true;
    }
    case VType::kString: {
      // Runs up to each 0 byte are copied whole; "\0\xff" is a 0 byte of the text, "\0\0" ends it.
      std::string_view rest = *in;
      for (;;) {
        const std::size_t z = rest.find('\0');
        if (z == std::string_view::npos || z + 1 >= rest.size()) return false;
        v->s.append(rest.data(), z);
        const char n = rest[z + 1];
        rest.remove_prefix(z + 2);
        if (n == '\0') {
          *in = rest;
          return true;
        }
        if (n != '\xff') return false;
        v->s.push_back('\0');
      }
    }
  }
  return false;
}

std::uint64_t hash_value(const Value& v) {
  Value n;
  const Value* p = &v;
  std::int64_t i;
  if (v.type == VType::kDouble && double_fits_int(v.d, &i)) {
    n = Value::of_int(i);
    p = &n;
  }
  std::string bytes;
  encode_value(&bytes, *p);
  return XXH3_64bits(bytes.data(), bytes.size());
}

// ---- evaluator ------------------------------------------------------------------------------

Evaluator::Evaluator() : doc_(std::make_unique<JsonDoc>()) {}
Evaluator::~Evaluator() = default;

void Evaluator::set_fields(const std::vector<std::string>* names) {
  doc_->names = names;
  doc_->fields.assign(names ? names->size() : 0, JsonDoc::Field{});
  doc_->found.assign(names ? names->size() : 0, 0);
}

namespace {

bool json_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// Eight bytes at a time (SWAR): a mask with the high bit set in each byte of `x` that stops a
// scan. Borrows and carries of these tricks only ever flag bytes *above* a truly flagged one,
// so the lowest flag is exact, which is all the scanners below use (little-endian only).
constexpr std::uint64_t kOnes = 0x0101010101010101ull;
constexpr std::uint64_t kHighs = 0x8080808080808080ull;
inline std::uint64_t swar_zero(std::uint64_t x) { return (x - kOnes) & ~x & kHighs; }
inline std::uint64_t swar_less(std::uint64_t x, std::uint64_t n) { return (x - kOnes * n) & ~x & kHighs; }
inline std::uint64_t swar_more(std::uint64_t x, std::uint64_t n) { return ((x + kOnes * (127 - n)) | x) & kHighs; }
inline std::uint64_t load8(const char* p) {
  std::uint64_t x;
  std::memcpy(&x, p, 8);
  return x;
}
constexpr bool kSwar = std::endian::native == std::endian::little;

// Powers of ten that are exact doubles: m / 10^k with m < 2^53 is then one correctly rounded
// division (Clinger's fast path), the same double as simdjson's or from_chars' parse.
constexpr double kExactPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                  1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

// First byte at or after p that ends a plain string: '"', '\\', a control or a non-ASCII byte.
inline const char* string_stop(const char* p, const char* end) {
  if constexpr (kSwar) {
    while (end - p >= 8) {
      const std::uint64_t x = load8(p);
      const std::uint64_t m = swar_zero(x ^ (kOnes * '"')) | swar_zero(x ^ (kOnes * '\\')) | swar_less(x, 0x20) | (x & kHighs);
      if (m) return p + (__builtin_ctzll(m) >> 3);
      p += 8;
    }
  }
  while (p < end) {
    const unsigned char c = static_cast<unsigned char>(*p);
    if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) return p;
    ++p;
  }
  return p;
}

// First byte at or after p that is not an ASCII digit.
inline const char* digits_end(const char* p, const char* end) {
  if constexpr (kSwar) {
    while (end - p >= 8) {
      const std::uint64_t x = load8(p);
      const std::uint64_t m = swar_less(x, '0') | swar_more(x, '9');
      if (m) return p + (__builtin_ctzll(m) >> 3);
      p += 8;
    }
  }
  while (p < end && *p >= '0' && *p <= '9') ++p;
  return p;
}

// The fast path for the common payload: one JSON object whose members are strings without
// escapes or non-ASCII bytes, short plain numbers, true, false or null. It reads the members
// the query references straight into `doc->fields` and checks the grammar of the others, at a
// fraction of simdjson's DOM cost for small records. It only ever *accepts*: anything outside
// that subset (nesting, escapes, UTF-8, exponents, long or huge numbers, any syntax error)
// returns false and the caller parses the payload with the DOM, which decides. The subset is
// strict JSON, so every payload accepted here is one the DOM accepts, with the same values (the
// first of duplicate members, integers as int64, decimals correctly rounded like simdjson's).
bool scan_flat(std::string_view in, JsonDoc* doc) {
  const char* p = in.data();
  const char* const end = p + in.size();
  auto skip_ws = [&] {
    // Most payloads have no whitespace: one comparison for them.
    while (p < end && static_cast<unsigned char>(*p) <= ' ' && json_ws(*p)) ++p;
  };
  // A string without escapes, control or non-ASCII bytes; p at the opening quote.
  auto string = [&](std::string_view* out) {
    const char* b = ++p;
    p = string_stop(p, end);
    if (p == end || *p != '"') return false;
    *out = std::string_view(b, static_cast<std::size_t>(p - b));
    ++p;
    return true;
  };
  const std::vector<std::string>& names = *doc->names;
  std::fill(doc->found.begin(), doc->found.end(), 0);
  skip_ws();
  if (p == end || *p != '{') return false;
  ++p;
  skip_ws();
  if (p < end && *p == '}') {
    ++p;
  } else {
    for (;;) {
      if (p == end || *p != '"') return false;
      std::string_view key;
      if (!string(&key)) return false;
      skip_ws();
      if (p == end || *p != ':') return false;
      ++p;
      skip_ws();
      if (p == end) return false;
      // The slot this member fills, if the query reads it and it is its first occurrence.
      JsonDoc::Field* slot = nullptr;
      for (std::size_t i = 0; i < names.size(); ++i) {
        if (!doc->found[i] && names[i] == key) {
          doc->found[i] = 1;
          slot = &doc->fields[i];
          break;
        }
      }
      const char c = *p;
      if (c == '"') {
        std::string_view v;
        if (!string(&v)) return false;
        if (slot) {
          slot->v.type = VType::kString;
          slot->text = v;
        }
      } else if (c == '-' || (c >= '0' && c <= '9')) {
        // -?(0|[1-9][0-9]*)(.[0-9]+)? : no exponent, at most 24 bytes, so neither overflow nor
        // underflow can happen for decimals; integers must fit int64 and not be "-0" (simdjson
        // reads that as a double).
        // A number the query reads is parsed while it is scanned: m collects its digits (it
        // wraps past 19 digits, but is used only with at most 15 significant ones).
        const char* b = p;
        const bool neg = *p == '-';
        if (neg) ++p;
        if (p == end || *p < '0' || *p > '9') return false;
        std::uint64_t m = 0;
        int sig = 0;  // significant digits (after the leading zeros)
        auto digits = [&] {
          if (!slot) {
            p = digits_end(p, end);
            return;
          }
          for (; p < end && *p >= '0' && *p <= '9'; ++p) {
            m = m * 10 + static_cast<std::uint64_t>(*p - '0');
            if (m != 0) ++sig;
          }
        };
        if (*p == '0') {
          ++p;
        } else {
          digits();
        }
        bool decimal = false;
        std::ptrdiff_t frac = 0;
        if (p < end && *p == '.') {
          decimal = true;
          ++p;
          const char* d = p;
          digits();
          frac = p - d;
          if (frac == 0) return false;
        }
        if (p < end && (*p == 'e' || *p == 'E')) return false;
        if (p - b > 24) return false;
        if (slot) {
          if (decimal) {
            double d = 0;
            if (sig <= 15 && frac <= 22) {
              d = static_cast<double>(m) / kExactPow10[frac];
              if (neg) d = -d;
            } else {
              auto r = std::from_chars(b, p, d);
              if (r.ec != std::errc() || r.ptr != p || !std::isfinite(d)) return false;
            }
            slot->v.type = VType::kDouble;
            slot->v.d = d;
          } else {
            std::int64_t i = 0;
            if (sig <= 18) {
              i = neg ? -static_cast<std::int64_t>(m) : static_cast<std::int64_t>(m);
            } else {
              auto r = std::from_chars(b, p, i);
              if (r.ec != std::errc() || r.ptr != p) return false;
            }
            slot->v.type = VType::kInt;
            slot->v.i = i;
          }
        } else if (!decimal && p - b > 18) {
          // Unread, but simdjson rejects integers beyond 64 bits: check the range all the same.
          std::int64_t i = 0;
          auto r = std::from_chars(b, p, i);
          if (r.ec != std::errc() || r.ptr != p) return false;
        }
        if (!decimal && p - b == 2 && b[0] == '-' && b[1] == '0') return false;
      } else {
        std::string_view lit = std::string_view(p, static_cast<std::size_t>(end - p));
        if (lit.substr(0, 4) == "true") {
          if (slot) slot->v = Value::of_bool(true);
          p += 4;
        } else if (lit.substr(0, 5) == "false") {
          if (slot) slot->v = Value::of_bool(false);
          p += 5;
        } else if (lit.substr(0, 4) == "null") {
          if (slot) slot->v = Value::null();
          p += 4;
        } else {
          return false;  // nested object or array, or not JSON
        }
      }
      skip_ws();
      if (p == end) return false;
      if (*p == '}') {
        ++p;
        break;
      }
      if (*p != ',') return false;
      ++p;
      skip_ws();
    }
  }
  skip_ws();
  return p == end;
}

}  // namespace

bool Evaluator::parse(std::string_view payload) {
  if (doc_->names && scan_flat(payload, doc_.get())) {
    doc_->flat = true;
    return true;
  }
  doc_->flat = false;
  auto r = doc_->parser.parse(payload.data(), payload.size(), true);
  if (r.error()) return false;
  doc_->root = r.value_unsafe();
  return doc_->root.type() == simdjson::dom::element_type::OBJECT;
}

const JsonDoc* Evaluator::doc() const { return doc_.get(); }
bool Evaluator::parsed_flat() const { return doc_->flat; }

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

bool lookup(const JsonDoc& doc, const Expr& e, element* out) {
  element cur = doc.root;
  bool ok = true;
  for (const auto& seg : e.path) {
    if (cur.type() != element_type::OBJECT) {
      ok = false;
      break;
    }
    auto r = cur.get_object().value_unsafe().at_key(seg);
    if (r.error()) {
      ok = false;
      break;
    }
    cur = r.value_unsafe();
  }
  if (ok) {
    *out = cur;
    return true;
  }
  if (e.path.size() > 1) {  // a member whose name itself contains dots
    auto r = doc.root.get_object().value_unsafe().at_key(e.name);
    if (!r.error()) {
      *out = r.value_unsafe();
      return true;
    }
  }
  return false;
}

Value dynamic_value(element v) {
  switch (v.type()) {
    case element_type::NULL_VALUE: return Value::null();
    case element_type::BOOL: return Value::of_bool(v.get_bool().value_unsafe());
    case element_type::INT64: return Value::of_int(v.get_int64().value_unsafe());
    case element_type::UINT64: {
      const std::uint64_t u = v.get_uint64().value_unsafe();
      if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return Value::of_int(static_cast<std::int64_t>(u));
      return Value::of_double(static_cast<double>(u));
    }
    case element_type::DOUBLE: return Value::of_double(v.get_double().value_unsafe());
    case element_type::STRING: return Value::of_string(std::string(v.get_string().value_unsafe()));
    case element_type::ARRAY:
    case element_type::OBJECT: return Value::of_string(simdjson::minify(v));
  }
  return Value::null();
}

// A member's value (as dynamic_value() reads it) in its declared type; `ok` false on a type
// mismatch.
Value typed_from_dynamic(const Value& d, ColumnType t, bool* ok) {
  *ok = true;
  if (d.type == VType::kNull) return Value::null();
  switch (t) {
    case ColumnType::kString:
      if (d.type == VType::kString) return d;
      break;
    case ColumnType::kInt: {
      if (d.type == VType::kInt) return d;
      std::int64_t i;
      if (d.type == VType::kDouble && double_fits_int(d.d, &i)) return Value::of_int(i);
      break;
    }
    case ColumnType::kDouble:
      if (d.is_number()) return Value::of_double(d.as_double());
      break;
    case ColumnType::kBool:
      if (d.type == VType::kBool) return d;
      break;
    case ColumnType::kTimestamp: {
      std::int64_t ms = 0;
      if (d.type == VType::kInt && decode::integer_to_ms(d.i, decode::TimeFormat::kAuto, &ms)) return Value::of_time(ms);
      if (d.type == VType::kDouble && decode::double_to_ms(d.d, decode::TimeFormat::kAuto, &ms)) return Value::of_time(ms);
      if (d.type == VType::kString && decode::parse_time_text(d.s, decode::TimeFormat::kAuto, &ms)) return Value::of_time(ms);
      break;
    }
  }
  *ok = false;
  return Value::null();
}

// A declared field's value in its declared type; `ok` false on a type mismatch.
Value typed_value(element v, ColumnType t, bool* ok) {
  *ok = true;
  if (v.type() == element_type::NULL_VALUE) return Value::null();
  return typed_from_dynamic(dynamic_value(v), t, ok);
}

// Coerces a value for comparison with a timestamp: text as a time, numbers as epoch ms.
bool as_time(const Value& v, std::int64_t* ms) {
  switch (v.type) {
    case VType::kTimestamp:
    case VType::kInt: *ms = v.i; return true;
    case VType::kDouble: return double_fits_int(std::floor(v.d), ms);
    case VType::kString: return decode::parse_time_text(v.s, decode::TimeFormat::kAuto, ms);
    default: return false;
  }
}

// Three-valued comparison result: -1/0/1, or 2 when incomparable (a type error).
int sql_compare(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.type == VType::kInt && b.type == VType::kInt) return a.i < b.i ? -1 : a.i > b.i ? 1 : 0;
    const double x = a.as_double(), y = b.as_double();
    if (std::isnan(x) || std::isnan(y)) return 3;  // NaN compares false with everything
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.type == VType::kTimestamp || b.type == VType::kTimestamp) {
    std::int64_t x, y;
    if (!as_time(a, &x) || !as_time(b, &y)) return 2;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.type != b.type) return 2;
  return compare_values(a, b);
}

bool like_match(std::string_view s, std::string_view p, bool ci) {
  // Iterative wildcard match with backtracking on the last '%'.
  std::size_t si = 0, pi = 0, star_p = std::string_view::npos, star_s = 0;
  auto eq = [&](char a, char b) {
    return ci ? std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b)) : a == b;
  };
  while (si < s.size()) {
    if (pi < p.size() && p[pi] == '%') {
      star_p = pi++;
      star_s = si;
      continue;
    }
    if (pi < p.size()) {
      char pc = p[pi];
      std::size_t step = 1;
      bool literal = false;
      if (pc == '\\' && pi + 1 < p.size()) {
        pc = p[pi + 1];
        step = 2;
        literal = true;
      }
      if ((!literal && pc == '_') || eq(pc, s[si])) {
        pi += step;
        ++si;
        continue;
      }
    }
    if (star_p == std::string_view::npos) return false;
    pi = star_p + 1;
    si = ++star_s;
  }
  while (pi < p.size() && p[pi] == '%') ++pi;
  return pi == p.size();
}

Value parse_number_text(const std::string& s, bool want_int) {
  std::string t = s;
  t.erase(0, t.find_first_not_of(" \t\r\n"));
  t.erase(t.find_last_not_of(" \t\r\n") + 1);
  if (t.empty()) return Value::null();
  const char* b = t.data();
  const char* e = t.data() + t.size();
  if (*b == '+') ++b;
  std::int64_t i = 0;
  auto ri = std::from_chars(b, e, i);
  if (ri.ec == std::errc() && ri.ptr == e) return want_int ? Value::of_int(i) : Value::of_double(static_cast<double>(i));
  double d = 0;
  auto rd = std::from_chars(b, e, d);
  if (rd.ec != std::errc() || rd.ptr != e) return Value::null();
  if (!want_int) return Value::of_double(d);
  std::int64_t k;
  if (double_fits_int(std::trunc(d), &k)) return Value::of_int(k);
  return Value::null();
}

Value cast_value(const Value& v, SType to) {
  if (v.is_null()) return v;
  switch (to) {
    case SType::kInt:
      switch (v.type) {
        case VType::kInt: return v;
        case VType::kTimestamp: return Value::of_int(v.i);
        case VType::kBool: return Value::of_int(v.b ? 1 : 0);
        case VType::kDouble: {
          std::int64_t k;
          if (double_fits_int(std::trunc(v.d), &k)) return Value::of_int(k);
          return Value::null();
        }
        case VType::kString: return parse_number_text(v.s, true);
        default: return Value::null();
      }
    case SType::kDouble:
      switch (v.type) {
        case VType::kInt:
        case VType::kTimestamp: return Value::of_double(static_cast<double>(v.i));
        case VType::kDouble: return v;
        case VType::kBool: return Value::of_double(v.b ? 1 : 0);
        case VType::kString: return parse_number_text(v.s, false);
        default: return Value::null();
      }
    case SType::kString: return Value::of_string(to_text(v));
    case SType::kBool:
      switch (v.type) {
        case VType::kBool: return v;
        case VType::kInt: return Value::of_bool(v.i != 0);
        case VType::kDouble: return Value::of_bool(v.d != 0);
        case VType::kString: {
          std::string l = v.s;
          for (char& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          if (l == "true" || l == "1" || l == "yes" || l == "on") return Value::of_bool(true);
          if (l == "false" || l == "0" || l == "no" || l == "off") return Value::of_bool(false);
          return Value::null();
        }
        default: return Value::null();
      }
    case SType::kTimestamp: {
      std::int64_t ms;
      if (v.type == VType::kTimestamp) return v;
      if (v.type == VType::kInt && decode::integer_to_ms(v.i, decode::TimeFormat::kAuto, &ms)) return Value::of_time(ms);
      if (v.type == VType::kDouble && decode::double_to_ms(v.d, decode::TimeFormat::kAuto, &ms)) return Value::of_time(ms);
      if (v.type == VType::kString && decode::parse_time_text(v.s, decode::TimeFormat::kAuto, &ms)) return Value::of_time(ms);
      return Value::null();
    }
    default: return v;
  }
}

std::size_t utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

// Byte offset of the k-th (0-based) UTF-8 character, or s.size().
std::size_t utf8_offset(std::string_view s, std::int64_t k) {
  std::size_t i = 0;
  while (i < s.size() && k > 0) {
    ++i;
    while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) ++i;
    --k;
  }
  return i;
}

Value arith(Op op, const Value& a, const Value& b, EvalContext& ctx) {
  if (a.is_null() || b.is_null()) return Value::null();
  if (a.type == VType::kTimestamp || b.type == VType::kTimestamp) {
    if (op == Op::kSub && a.type == VType::kTimestamp && b.type == VType::kTimestamp) return Value::of_int(a.i - b.i);
    const Value& t = a.type == VType::kTimestamp ? a : b;
    const Value& n = a.type == VType::kTimestamp ? b : a;
    if (n.is_number() && (op == Op::kAdd || (op == Op::kSub && &t == &a))) {
      std::int64_t delta;
      if (!double_fits_int(std::floor(n.as_double()), &delta)) return Value::null();
      return Value::of_time(op == Op::kAdd ? t.i + delta : t.i - delta);
    }
    ctx.error = true;
    return Value::null();
  }
  if (!a.is_number() || !b.is_number()) {
    ctx.error = true;
    return Value::null();
  }
  if (op == Op::kDiv) {
    const double y = b.as_double();
    if (y == 0) return Value::null();
    return Value::of_double(a.as_double() / y);
  }
  if (a.type == VType::kInt && b.type == VType::kInt) {
    std::int64_t r = 0;
    switch (op) {
      case Op::kAdd:
        if (!__builtin_add_overflow(a.i, b.i, &r)) return Value::of_int(r);
        return Value::of_double(static_cast<double>(a.i) + static_cast<double>(b.i));
      case Op::kSub:
        if (!__builtin_sub_overflow(a.i, b.i, &r)) return Value::of_int(r);
        return Value::of_double(static_cast<double>(a.i) - static_cast<double>(b.i));
      case Op::kMul:
        if (!__builtin_mul_overflow(a.i, b.i, &r)) return Value::of_int(r);
        return Value::of_double(static_cast<double>(a.i) * static_cast<double>(b.i));
      case Op::kMod:
        if (b.i == 0) return Value::null();
        if (b.i == -1) return Value::of_int(0);
        return Value::of_int(a.i % b.i);
      default: break;
    }
  }
  const double x = a.as_double(), y = b.as_double();
  switch (op) {
    case Op::kAdd: return Value::of_double(x + y);
    case Op::kSub: return Value::of_double(x - y);
    case Op::kMul: return Value::of_double(x * y);
    case Op::kMod:
      if (y == 0) return Value::null();
      return Value::of_double(std::fmod(x, y));
    default: break;
  }
  return Value::null();
}

// Truth value of a bound boolean expression result: 1 true, 0 false, -1 NULL; sets ctx.error
// on a non-boolean.
int tri(const Value& v, EvalContext& ctx) {
  if (v.is_null()) return -1;
  if (v.type != VType::kBool) {
    ctx.error = true;
    return -1;
  }
  return v.b ? 1 : 0;
}

Value from_tri(int t) { return t < 0 ? Value::null() : Value::of_bool(t == 1); }

Value math1(Fn fn, const Value& a, EvalContext& ctx) {
  if (a.is_null()) return a;
  if (!a.is_number()) {
    ctx.error = true;
    return Value::null();
  }
  const double x = a.as_double();
  switch (fn) {
    case Fn::kAbs:
      if (a.type == VType::kInt) {
        if (a.i == std::numeric_limits<std::int64_t>::min()) return Value::of_double(-x);
        return Value::of_int(a.i < 0 ? -a.i : a.i);
      }
      return Value::of_double(std::fabs(x));
    case Fn::kSign: return Value::of_int(x > 0 ? 1 : x < 0 ? -1 : 0);
    case Fn::kFloor: return Value::of_double(std::floor(x));
    case Fn::kCeil: return Value::of_double(std::ceil(x));
    case Fn::kSqrt: return x < 0 ? Value::null() : Value::of_double(std::sqrt(x));
    case Fn::kLn: return x <= 0 ? Value::null() : Value::of_double(std::log(x));
    case Fn::kLog10: return x <= 0 ? Value::null() : Value::of_double(std::log10(x));
    case Fn::kLog2: return x <= 0 ? Value::null() : Value::of_double(std::log2(x));
    case Fn::kExp: return Value::of_double(std::exp(x));
    default: return Value::null();
  }
}

}  // namespace

bool Evaluator::flat_text(const Expr& e, const EvalContext& ctx, std::string_view* text) const {
  if (e.kind != ExprKind::kColumn || !ctx.doc || !ctx.doc->flat) return false;
  const auto slot = static_cast<std::size_t>(e.index);
  if (e.index < 0 || slot >= ctx.doc->fields.size() || !ctx.doc->found[slot]) return false;
  const JsonDoc::Field& f = ctx.doc->fields[slot];
  if (f.v.type != VType::kString || (e.declared && e.decl_type != ColumnType::kString)) return false;
  *text = f.text;
  return true;
}

bool Evaluator::flat_number(const Expr& e, const EvalContext& ctx, Value* out) const {
  if (e.kind != ExprKind::kColumn || !ctx.doc || !ctx.doc->flat) return false;
  const auto slot = static_cast<std::size_t>(e.index);
  if (e.index < 0 || slot >= ctx.doc->fields.size() || !ctx.doc->found[slot]) return false;
  const Value& v = ctx.doc->fields[slot].v;
  if (v.type == VType::kInt && (!e.declared || e.decl_type == ColumnType::kInt)) {
    out->type = VType::kInt;
    out->i = v.i;
    return true;
  }
  if (v.is_number() && ((!e.declared && v.type == VType::kDouble) || (e.declared && e.decl_type == ColumnType::kDouble))) {
    out->type = VType::kDouble;
    out->d = v.as_double();
    return true;
  }
  return false;
}

bool Evaluator::truth(const Expr& e, EvalContext& ctx) const {
  const Value v = eval(e, ctx);
  return v.type == VType::kBool && v.b;
}

Value Evaluator::eval(const Expr& e, EvalContext& ctx) const {
  switch (e.kind) {
    case ExprKind::kLiteral: return e.lit;
    case ExprKind::kColumn: {
      if (!ctx.doc) return Value::null();
      if (ctx.doc->flat) {
        const auto slot = static_cast<std::size_t>(e.index);
        if (e.index < 0 || slot >= ctx.doc->fields.size() || !ctx.doc->found[slot]) return Value::null();
        const JsonDoc::Field& f = ctx.doc->fields[slot];
        if (f.v.type == VType::kString) {
          // Declared string or timestamp text, or an undeclared member: no other type takes text.
          Value d = Value::of_string(std::string(f.text));
          if (!e.declared || e.decl_type == ColumnType::kString) return d;
          bool ok = true;
          Value r = typed_from_dynamic(d, e.decl_type, &ok);
          if (!ok) ctx.error = true;
          return r;
        }
        if (!e.declared) return f.v;
        bool ok = true;
        Value r = typed_from_dynamic(f.v, e.decl_type, &ok);
        if (!ok) ctx.error = true;
        return r;
      }
      element v;
      if (!lookup(*ctx.doc, e, &v)) return Value::null();
      if (!e.declared) return dynamic_value(v);
      bool ok = true;
      Value r = typed_value(v, e.decl_type, &ok);
      if (!ok) ctx.error = true;
      return r;
    }
    case ExprKind::kPseudo: {
      const store::RecordView* r = ctx.record;
      if (!r) return Value::null();
      switch (static_cast<Pseudo>(e.index)) {
        case Pseudo::kTpTime: return Value::of_time(r->event_time_ms);
        case Pseudo::kIngestTime: return Value::of_time(r->ingest_time_ms);
        case Pseudo::kSeq: return Value::of_int(static_cast<std::int64_t>(r->seq));
        case Pseudo::kKey: return r->has_key ? Value::of_string(std::string(r->key)) : Value::null();
      }
      return Value::null();
    }
    case ExprKind::kWindowStart: return Value::of_time(ctx.window_start);
    case ExprKind::kWindowEnd: return Value::of_time(ctx.window_end);
    case ExprKind::kAgg: return ctx.aggs ? ctx.aggs[e.index] : Value::null();
    case ExprKind::kGroupRef: return ctx.keys ? ctx.keys[e.index] : Value::null();
    case ExprKind::kUnary: {
      const Value a = eval(*e.args[0], ctx);
      if (e.op == Op::kNot) {
        const int t = tri(a, ctx);
        return t < 0 ? Value::null() : Value::of_bool(t == 0);
      }
      if (a.is_null()) return a;
      if (a.type == VType::kInt) {
        if (a.i == std::numeric_limits<std::int64_t>::min()) return Value::of_double(-static_cast<double>(a.i));
        return Value::of_int(-a.i);
      }
      if (a.type == VType::kDouble) return Value::of_double(-a.d);
      ctx.error = true;
      return Value::null();
    }
    case ExprKind::kBinary: {
      if (e.op == Op::kAnd || e.op == Op::kOr) {
        const int l = tri(eval(*e.args[0], ctx), ctx);
        if (e.op == Op::kAnd && l == 0) return Value::of_bool(false);
        if (e.op == Op::kOr && l == 1) return Value::of_bool(true);
        const int r = tri(eval(*e.args[1], ctx), ctx);
        if (e.op == Op::kAnd) {
          if (r == 0) return Value::of_bool(false);
          return (l == 1 && r == 1) ? Value::of_bool(true) : Value::null();
        }
        if (r == 1) return Value::of_bool(true);
        return (l == 0 && r == 0) ? Value::of_bool(false) : Value::null();
      }
      const Value a = eval(*e.args[0], ctx);
      const Value b = eval(*e.args[1], ctx);
      switch (e.op) {
        case Op::kConcat:
          if (a.is_null() || b.is_null()) return Value::null();
          return Value::of_string(to_text(a) + to_text(b));
        case Op::kEq:
        case Op::kNe:
        case Op::kLt:
        case Op::kLe:
        case Op::kGt:
        case Op::kGe: {
          if (a.is_null() || b.is_null()) return Value::null();
          const int c = sql_compare(a, b);
          if (c == 2) {
            ctx.error = true;
            return Value::null();
          }
          if (c == 3) return Value::of_bool(e.op == Op::kNe);
          switch (e.op) {
            case Op::kEq: return Value::of_bool(c == 0);
            case Op::kNe: return Value::of_bool(c != 0);
            case Op::kLt: return Value::of_bool(c < 0);
            case Op::kLe: return Value::of_bool(c <= 0);
            case Op::kGt: return Value::of_bool(c > 0);
            default: return Value::of_bool(c >= 0);
          }
        }
        default: return arith(e.op, a, b, ctx);
      }
    }
    case ExprKind::kIn: {
      const Value x = eval(*e.args[0], ctx);
      if (x.is_null()) return x;
      bool saw_null = false;
      for (std::size_t k = 1; k < e.args.size(); ++k) {
        const Value v = eval(*e.args[k], ctx);
        if (v.is_null()) {
          saw_null = true;
          continue;
        }
        const int c = sql_compare(x, v);
        if (c == 2) {
          ctx.error = true;
          return Value::null();
        }
        if (c == 0) return Value::of_bool(!e.negated);
      }
      if (saw_null) return Value::null();
      return Value::of_bool(e.negated);
    }
    case ExprKind::kBetween: {
      const Value x = eval(*e.args[0], ctx);
      const Value lo = eval(*e.args[1], ctx);
      const Value hi = eval(*e.args[2], ctx);
      auto cmp = [&](const Value& a, const Value& b) -> int {  // tri of a <= b
        if (a.is_null() || b.is_null()) return -1;
        const int c = sql_compare(a, b);
        if (c == 2) {
          ctx.error = true;
          return -1;
        }
        return (c <= 0) ? 1 : 0;
      };
      const int l = cmp(lo, x), h = cmp(x, hi);
      int r;
      if (l == 0 || h == 0) {
        r = 0;
      } else if (l == 1 && h == 1) {
        r = 1;
      } else {
        r = -1;
      }
      if (e.negated && r >= 0) r = 1 - r;
      return from_tri(r);
    }
    case ExprKind::kIsNull: {
      const Value x = eval(*e.args[0], ctx);
      return Value::of_bool(x.is_null() != e.negated);
    }
    case ExprKind::kLike: {
      const Value s = eval(*e.args[0], ctx);
      const Value p = eval(*e.args[1], ctx);
      if (s.is_null() || p.is_null()) return Value::null();
      if (s.type != VType::kString || p.type != VType::kString) {
        ctx.error = true;
        return Value::null();
      }
      return Value::of_bool(like_match(s.s, p.s, e.name == "ilike") != e.negated);
    }
    case ExprKind::kCase: {
      std::size_t k = 0;
      Value operand;
      if (e.has_operand) operand = eval(*e.args[k++], ctx);
      const std::size_t pairs_end = e.args.size() - (e.has_else ? 1 : 0);
      for (; k + 1 < pairs_end; k += 2) {  // (WHEN, THEN) pairs
        bool hit;
        if (e.has_operand) {
          const Value w = eval(*e.args[k], ctx);
          hit = !operand.is_null() && !w.is_null() && sql_compare(operand, w) == 0;
        } else {
          hit = tri(eval(*e.args[k], ctx), ctx) == 1;
        }
        if (hit) return eval(*e.args[k + 1], ctx);
      }
      if (e.has_else) return eval(*e.args.back(), ctx);
      return Value::null();
    }
    case ExprKind::kCast: return cast_value(eval(*e.args[0], ctx), e.cast_to);
    case ExprKind::kFunc: break;
  }

  // Scalar functions.
  const Fn fn = static_cast<Fn>(e.index);
  switch (fn) {
    case Fn::kCoalesce:
      for (const auto& a : e.args) {
        Value v = eval(*a, ctx);
        if (!v.is_null()) return v;
      }
      return Value::null();
    case Fn::kIf: {
      const int c = tri(eval(*e.args[0], ctx), ctx);
      return eval(*e.args[c == 1 ? 1 : 2], ctx);
    }
    case Fn::kMultiIf: {
      for (std::size_t k = 0; k + 1 < e.args.size(); k += 2) {
        if (tri(eval(*e.args[k], ctx), ctx) == 1) return eval(*e.args[k + 1], ctx);
      }
      return eval(*e.args.back(), ctx);
    }
    case Fn::kLeast:
    case Fn::kGreatest: {
      Value best;
      for (const auto& a : e.args) {
        Value v = eval(*a, ctx);
        if (v.is_null()) return Value::null();  // ClickHouse/Postgres differ; NULL is the SQL-standard reading
        if (best.is_null()) {
          best = std::move(v);
          continue;
        }
        const int c = sql_compare(v, best);
        if (c == 2) {
          ctx.error = true;
          return Value::null();
        }
        if ((fn == Fn::kLeast && c < 0) || (fn == Fn::kGreatest && c > 0)) best = std::move(v);
      }
      return best;
    }
    case Fn::kConcat: {
      std::string s;
      for (const auto& a : e.args) {
        const Value v = eval(*a, ctx);
        if (v.is_null()) return Value::null();
        s += to_text(v);
      }
      return Value::of_string(std::move(s));
    }
    default: break;
  }
  std::vector<Value> args;
  args.reserve(e.args.size());
  for (const auto& a : e.args) {
    args.push_back(eval(*a, ctx));
    if (args.back().is_null() && fn != Fn::kNullIf && fn != Fn::kToString) return Value::null();
  }
  auto str = [&](std::size_t k) -> const std::string* {
    if (args[k].type != VType::kString) {
      ctx.error = true;
      return nullptr;
    }
    return &args[k].s;
  };
  switch (fn) {
    case Fn::kLower:
    case Fn::kUpper: {
      const std::string* s = str(0);
      if (!s) return Value::null();
      std::string r = *s;
      for (char& c : r)
        c = static_cast<char>(fn == Fn::kLower ? std::tolower(static_cast<unsigned char>(c))
                                               : std::toupper(static_cast<unsigned char>(c)));
      return Value::of_string(std::move(r));
    }
    case Fn::kLength: {
      const std::string* s = str(0);
      if (!s) return Value::null();
      return Value::of_int(static_cast<std::int64_t>(utf8_length(*s)));
    }
    case Fn::kSubstr: {
      const std::string* s = str(0);
      if (!s || !args[1].is_number() || (args.size() == 3 && !args[2].is_number())) {
        ctx.error = true;
        return Value::null();
      }
      // 1-based start (SQL); a start <= 0 counts like PostgreSQL (characters before 1 are empty).
      std::int64_t start = static_cast<std::int64_t>(args[1].as_double());
      std::int64_t len = args.size() == 3 ? static_cast<std::int64_t>(args[2].as_double())
                                          : std::numeric_limits<std::int64_t>::max() / 2;
      if (len < 0) return Value::of_string("");
      std::int64_t end = start + len;
      if (start < 1) start = 1;
      if (end <= start) return Value::of_string("");
      const std::size_t b = utf8_offset(*s, start - 1);
      const std::size_t x = utf8_offset(*s, end - 1);
      return Value::of_string(s->substr(b, x - b));
    }
    case Fn::kTrim:
    case Fn::kLtrim:
    case Fn::kRtrim: {
      const std::string* s = str(0);
      if (!s) return Value::null();
      std::size_t b = 0, x = s->size();
      if (fn != Fn::kRtrim)
        while (b < x && std::isspace(static_cast<unsigned char>((*s)[b]))) ++b;
      if (fn != Fn::kLtrim)
        while (x > b && std::isspace(static_cast<unsigned char>((*s)[x - 1]))) --x;
      return Value::of_string(s->substr(b, x - b));
    }
    case Fn::kStartsWith:
    case Fn::kEndsWith:
    case Fn::kContains: {
      const std::string* s = str(0);
      const std::string* p = str(1);
      if (!s || !p) return Value::null();
      if (fn == Fn::kStartsWith) return Value::of_bool(s->compare(0, p->size(), *p) == 0 && s->size() >= p->size());
      if (fn == Fn::kEndsWith)
        return Value::of_bool(s->size() >= p->size() && s->compare(s->size() - p->size(), p->size(), *p) == 0);
      return Value::of_bool(s->find(*p) != std::string::npos);
    }
    case Fn::kReplace: {
      const std::string* s = str(0);
      const std::string* from = str(1);
      const std::string* to = str(2);
      if (!s || !from || !to) return Value::null();
      if (from->empty()) return Value::of_string(*s);
      std::string r;
      std::size_t pos = 0;
      for (;;) {
        const std::size_t f = s->find(*from, pos);
        if (f == std::string::npos) break;
        r.append(*s, pos, f - pos);
        r += *to;
        pos = f + from->size();
      }
      r.append(*s, pos, std::string::npos);
      return Value::of_string(std::move(r));
    }
    case Fn::kRound: {
      if (!args[0].is_number() || (args.size() == 2 && !args[1].is_number())) {
        ctx.error = true;
        return Value::null();
      }
      const double x = args[0].as_double();
      const std::int64_t n = args.size() == 2 ? static_cast<std::int64_t>(args[1].as_double()) : 0;
      if (n == 0) return Value::of_double(std::round(x));
      if (n > 15 || n < -15) return Value::of_double(x);
      const double f = std::pow(10.0, static_cast<double>(n));
      return Value::of_double(std::round(x * f) / f);
    }
    case Fn::kPow:
      if (!args[0].is_number() || !args[1].is_number()) {
        ctx.error = true;
        return Value::null();
      }
      return Value::of_double(std::pow(args[0].as_double(), args[1].as_double()));
    case Fn::kIntDiv:
    case Fn::kMod: {
      if (!args[0].is_number() || !args[1].is_number()) {
        ctx.error = true;
        return Value::null();
      }
      if (fn == Fn::kMod) return arith(Op::kMod, args[0], args[1], ctx);
      const double y = args[1].as_double();
      if (y == 0) return Value::null();
      if (args[0].type == VType::kInt && args[1].type == VType::kInt) {
        if (args[1].i == -1) return args[0].i == std::numeric_limits<std::int64_t>::min() ? Value::null() : Value::of_int(-args[0].i);
        return Value::of_int(args[0].i / args[1].i);
      }
      std::int64_t k;
      if (!double_fits_int(std::trunc(args[0].as_double() / y), &k)) return Value::null();
      return Value::of_int(k);
    }
    case Fn::kNullIf:
      if (args[0].is_null()) return args[0];
      if (!args[1].is_null() && sql_compare(args[0], args[1]) == 0) return Value::null();
      return args[0];
    case Fn::kToInt: return cast_value(args[0], SType::kInt);
    case Fn::kToFloat: return cast_value(args[0], SType::kDouble);
    case Fn::kToString: return args[0].is_null() ? args[0] : cast_value(args[0], SType::kString);
    case Fn::kToBool: return cast_value(args[0], SType::kBool);
    case Fn::kToUnixMs:
      if (args[0].type != VType::kTimestamp) {
        ctx.error = true;
        return Value::null();
      }
      return Value::of_int(args[0].i);
    default: return math1(fn, args[0], ctx);
  }
}

}  // namespace outpost::query::internal
