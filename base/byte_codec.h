// Little-endian fixed-width integers and LEB128 varints: the one definition of the byte layouts
// that the store's file format (store/FORMAT.md) and the query engine's saved state use, so the
// two cannot drift apart. Writers into a buffer the caller sized; appenders to a std::string;
// consumers that take bytes off the front of a string_view and fail, leaving it unchanged, when
// too few are left (never reading past the end).
#pragma once

#include <bit>
#include <cstdint>
#include <string>
#include <string_view>

namespace outpost::base {

inline void put_u16(char* p, std::uint16_t v) {
  p[0] = static_cast<char>(v);
  p[1] = static_cast<char>(v >> 8);
}
inline void put_u32(char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline void put_u64(char* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline std::uint16_t get_u16(const char* p) {
  return static_cast<std::uint16_t>(static_cast<std::uint8_t>(p[0]) | (static_cast<std::uint8_t>(p[1]) << 8));
}
inline std::uint32_t get_u32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}
inline std::uint64_t get_u64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

inline void put_u8(std::string* out, std::uint8_t v) { out->push_back(static_cast<char>(v)); }
inline void put_u64(std::string* out, std::uint64_t v) {
  char b[8];
  put_u64(b, v);
  out->append(b, 8);
}
inline void put_f64(std::string* out, double v) { put_u64(out, std::bit_cast<std::uint64_t>(v)); }
inline void put_varint(std::string* out, std::uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

// Consumes 8 bytes from the front of *in; false (and *in unchanged) when fewer are left.
inline bool get_u64(std::string_view* in, std::uint64_t* x) {
  if (in->size() < 8) return false;
  *x = get_u64(in->data());
  in->remove_prefix(8);
  return true;
}

}  // namespace outpost::base
