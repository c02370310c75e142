// Byte layout of the local log: every constant of store/FORMAT.md, in one place, plus the
// little encoders and decoders the rest of store/ uses. Code and FORMAT.md change together;
// tests/store/format_test.cpp decodes a checked-in sample segment so a change cannot slip by.
//
// All integers are little-endian. Checksums are the low 32 bits of XXH3_64bits, masked.
#pragma once

#include "base/byte_codec.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace outpost::store::format {

// ---- Segment file header (kSegmentHeaderBytes at offset 0) -------------------------------
//  0 u32 magic "OPSG"   4 u16 version   6 u8 codec   7 u8 flags (0)
//  8 u64 first_seq     16 i64 created_wall_ms   24 u32 reserved (0)   28 u32 masked checksum of 0..27
inline constexpr std::uint32_t kSegmentMagic = 0x4753504F;  // "OPSG" on disk
inline constexpr std::uint16_t kFormatVersion = 1;
inline constexpr std::uint8_t kCodecZstd = 1;
inline constexpr std::size_t kSegmentHeaderBytes = 32;

// ---- Block header (kBlockHeaderBytes, then stored_len payload bytes) ----------------------
//  0 u8 type   1 u8 flags (0)   2 u16 reserved (0)   4 u32 stored_len   8 u32 raw_len
// 12 u32 record_count   16 u64 first_seq   24 i64 min_event_ms   32 i64 max_event_ms
// 40 i64 min_ingest_ms  48 i64 max_ingest_ms  56 u32 masked payload checksum (stored bytes)
// 60 u32 masked header checksum (bytes 0..59)
inline constexpr std::uint8_t kBlockZeroFill = 0;  // preallocated / zero-filled space: end of data
inline constexpr std::uint8_t kBlockZstd = 1;      // payload is one zstd frame of raw_len bytes
inline constexpr std::uint8_t kBlockRaw = 2;       // payload is the raw block itself (stored = raw)
inline constexpr std::size_t kBlockHeaderBytes = 64;

// Bounds a reader enforces before allocating anything: a corrupt length can never cause a
// huge allocation or a read past the block.
inline constexpr std::uint32_t kMaxRecordBytes = 8u << 20;      // key + payload of one record
inline constexpr std::uint32_t kMaxBlockBytesOption = 8u << 20;  // Options::block_bytes clamp
inline constexpr std::uint32_t kMaxBlockRawBytes = 17u << 20;   // > clamp + one max record
inline constexpr std::uint32_t kMaxBlockStoredBytes = 18u << 20;  // > ZSTD_compressBound(raw)
inline constexpr std::uint32_t kMaxBlockRecords = kMaxBlockRawBytes / 4;

// ---- Record framing inside a raw block -----------------------------------------------------
//  varint32 body_len | body
//  body = zigzag varint64 (ingest_ms - previous ingest_ms; the first record of a block uses
//         the block's min_ingest_ms as "previous") | zigzag varint64 (event_ms - ingest_ms) |
//         u8 flags (bit 0: has key) | [varint32 key_len | key] | payload (rest of body)
// A record's seq is implicit: block first_seq + its index in the block.
// Integrity of the raw bytes: a zstd block's frame carries zstd's content checksum (XXH64 of
// the raw block, checked by the decompressor); a type-2 block's payload checksum covers the
// raw bytes directly. Either is verified before any record is decoded. Version 1 deliberately
// has no separate per-record checksum: 2 incompressible bytes per ~100-byte record made blocks
// ~29% larger than `zstd -3` of the same data (see store/FORMAT.md, "Why no per-record check").
inline constexpr std::uint8_t kRecordHasKey = 0x01;
inline constexpr std::uint8_t kRecordKnownFlags = kRecordHasKey;
// Largest framing overhead of one record (varints at their longest + flags).
inline constexpr std::size_t kMaxRecordOverhead = 5 + 10 + 10 + 1 + 5;

// ---- Intake journal (AppendDurability::kWritten) --------------------------------------------
// File header (kJournalHeaderBytes):
//  0 u32 magic "OPJN"  4 u16 version  6 u16 reserved (0)  8 u64 first_seq  16 u32 reserved (0)
// 20 u32 masked checksum of 0..19
// Then records, each written with one write():
//  0 u32 masked checksum of bytes 4..(8+len)   4 u32 len (of body)
//  body = u64 seq | i64 ingest_ms | i64 event_ms | u8 flags | [varint32 key_len | key] | payload
inline constexpr std::uint32_t kJournalMagic = 0x4E4A504F;  // "OPJN" on disk
inline constexpr std::size_t kJournalHeaderBytes = 24;
inline constexpr std::size_t kJournalRecordHeaderBytes = 8;
inline constexpr std::size_t kJournalBodyFixedBytes = 8 + 8 + 8 + 1;

// ---- Checksums --------------------------------------------------------------------------
// LevelDB's reason for masking: a checksum over data that itself contains checksums is weak,
// so stored checksums are rotated and offset.
inline constexpr std::uint32_t kMaskDelta = 0xa282ead8u;
inline std::uint32_t mask(std::uint32_t c) { return ((c >> 15) | (c << 17)) + kMaskDelta; }
inline std::uint32_t unmask(std::uint32_t m) {
  std::uint32_t r = m - kMaskDelta;
  return (r >> 17) | (r << 15);
}
// Low 32 bits of XXH3_64bits_withSeed.
std::uint32_t xxh3_32(const void* data, std::size_t n, std::uint64_t seed = 0);
inline std::uint32_t masked_checksum(const void* data, std::size_t n, std::uint64_t seed = 0) {
  return mask(xxh3_32(data, n, seed));
}

// ---- Fixed-width little-endian (base/byte_codec.h) -----------------------------------------
using base::get_u16;
using base::get_u32;
using base::get_u64;
using base::put_u16;
using base::put_u32;
using base::put_u64;

// ---- Varints (LEB128, at most 5 bytes for 32 bits, 10 for 64) --------------------------
inline char* put_varint64(char* p, std::uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}
inline std::size_t varint_length(std::uint64_t v) {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}
// Returns the position after the varint, or nullptr if it is truncated or too long.
inline const char* get_varint64(const char* p, const char* end, std::uint64_t* v) {
  std::uint64_t result = 0;
  for (unsigned shift = 0; shift <= 63 && p < end; shift += 7) {
    std::uint64_t byte = static_cast<std::uint8_t>(*p++);
    if (shift == 63 && byte > 1) return nullptr;
    result |= (byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return p;
    }
  }
  return nullptr;
}
inline const char* get_varint32(const char* p, const char* end, std::uint32_t* v) {
  std::uint64_t x = 0;
  p = get_varint64(p, end, &x);
  if (p == nullptr || x > 0xffffffffu) return nullptr;
  *v = static_cast<std::uint32_t>(x);
  return p;
}
inline std::uint64_t zigzag(std::int64_t v) {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
inline std::int64_t unzigzag(std::uint64_t v) {
  return static_cast<std::int64_t>((v >> 1) ^ (~(v & 1) + 1));
}

// ---- Decoded headers ---------------------------------------------------------------------
struct SegmentHeader {
  std::uint16_t version = kFormatVersion;
  std::uint8_t codec = kCodecZstd;
  std::uint64_t first_seq = 0;
  std::int64_t created_wall_ms = 0;
};
void encode_segment_header(const SegmentHeader& h, char out[kSegmentHeaderBytes]);
// Returns an empty string if valid, else why not.
std::string decode_segment_header(const char in[kSegmentHeaderBytes], SegmentHeader* h);

struct BlockHeader {
  std::uint8_t type = kBlockZstd;
  std::uint32_t stored_len = 0;
  std::uint32_t raw_len = 0;
  std::uint32_t record_count = 0;
  std::uint64_t first_seq = 0;
  std::int64_t min_event_ms = 0, max_event_ms = 0;
  std::int64_t min_ingest_ms = 0, max_ingest_ms = 0;
  std::uint32_t payload_checksum = 0;  // masked
  std::uint64_t last_seq() const { return first_seq + record_count - 1; }
};
void encode_block_header(const BlockHeader& h, char out[kBlockHeaderBytes]);
// Checks the header checksum and every bound; empty string if valid, else why not.
std::string decode_block_header(const char in[kBlockHeaderBytes], BlockHeader* h);
bool is_zero_fill(const char* p, std::size_t n);

struct JournalHeader {
  std::uint64_t first_seq = 0;
};
void encode_journal_header(const JournalHeader& h, char out[kJournalHeaderBytes]);
std::string decode_journal_header(const char in[kJournalHeaderBytes], JournalHeader* h);

}  // namespace outpost::store::format
