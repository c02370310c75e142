// Little-endian fixed-width integers for the engine's saved state (executor, aggregates and
// values share one definition, so the checkpoint byte format cannot drift between them).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace outpost::query::internal {

inline void put_u64(std::string* out, std::uint64_t x) {
  char b[8];
  for (int k = 0; k < 8; ++k) b[k] = static_cast<char>((x >> (8 * k)) & 0xff);
  out->append(b, 8);
}

// Consumes 8 bytes from the front of *in; false (and *in unchanged) when fewer are left.
inline bool get_u64(std::string_view* in, std::uint64_t* x) {
  if (in->size() < 8) return false;
  std::uint64_t v = 0;
  for (int k = 0; k < 8; ++k) {
    v |= static_cast<std::uint64_t>(static_cast<unsigned char>((*in)[static_cast<std::size_t>(k)])) << (8 * k);
  }
  in->remove_prefix(8);
  *x = v;
  return true;
}

}  // namespace outpost::query::internal
