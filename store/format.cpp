#include "store/format.h"

#include <xxhash.h>

namespace outpost::store::format {

std::uint32_t xxh3_32(const void* data, std::size_t n, std::uint64_t seed) {
  return static_cast<std::uint32_t>(XXH3_64bits_withSeed(data, n, seed));
}

void encode_segment_header(const SegmentHeader& h, char out[kSegmentHeaderBytes]) {
  std::memset(out, 0, kSegmentHeaderBytes);
  put_u32(out + 0, kSegmentMagic);
  put_u16(out + 4, h.version);
  out[6] = static_cast<char>(h.codec);
  out[7] = 0;
  put_u64(out + 8, h.first_seq);
  put_u64(out + 16, static_cast<std::uint64_t>(h.created_wall_ms));
  put_u32(out + 24, 0);
  put_u32(out + 28, masked_checksum(out, 28));
}

std::string decode_segment_header(const char in[kSegmentHeaderBytes], SegmentHeader* h) {
  if (get_u32(in + 0) != kSegmentMagic) return "bad segment magic";
  if (unmask(get_u32(in + 28)) != xxh3_32(in, 28)) return "segment header checksum mismatch";
  h->version = get_u16(in + 4);
  h->codec = static_cast<std::uint8_t>(in[6]);
  h->first_seq = get_u64(in + 8);
  h->created_wall_ms = static_cast<std::int64_t>(get_u64(in + 16));
  if (h->version != kFormatVersion) return "unsupported segment format version " + std::to_string(h->version);
  if (h->codec != kCodecZstd) return "unknown segment codec " + std::to_string(h->codec);
  if (h->first_seq == 0) return "segment first_seq is 0";
  return {};
}

void encode_block_header(const BlockHeader& h, char out[kBlockHeaderBytes]) {
  out[0] = static_cast<char>(h.type);
  out[1] = 0;
  put_u16(out + 2, 0);
  put_u32(out + 4, h.stored_len);
  put_u32(out + 8, h.raw_len);
  put_u32(out + 12, h.record_count);
  put_u64(out + 16, h.first_seq);
  put_u64(out + 24, static_cast<std::uint64_t>(h.min_event_ms));
  put_u64(out + 32, static_cast<std::uint64_t>(h.max_event_ms));
  put_u64(out + 40, static_cast<std::uint64_t>(h.min_ingest_ms));
  put_u64(out + 48, static_cast<std::uint64_t>(h.max_ingest_ms));
  put_u32(out + 56, h.payload_checksum);
  put_u32(out + 60, masked_checksum(out, 60));
}

std::string decode_block_header(const char in[kBlockHeaderBytes], BlockHeader* h) {
  if (unmask(get_u32(in + 60)) != xxh3_32(in, 60)) return "block header checksum mismatch";
  h->type = static_cast<std::uint8_t>(in[0]);
  h->stored_len = get_u32(in + 4);
  h->raw_len = get_u32(in + 8);
  h->record_count = get_u32(in + 12);
  h->first_seq = get_u64(in + 16);
  h->min_event_ms = static_cast<std::int64_t>(get_u64(in + 24));
  h->max_event_ms = static_cast<std::int64_t>(get_u64(in + 32));
  h->min_ingest_ms = static_cast<std::int64_t>(get_u64(in + 40));
  h->max_ingest_ms = static_cast<std::int64_t>(get_u64(in + 48));
  h->payload_checksum = get_u32(in + 56);
  if (h->type != kBlockZstd && h->type != kBlockRaw) return "unknown block type " + std::to_string(h->type);
  if (in[1] != 0 || get_u16(in + 2) != 0) return "block header reserved bytes not zero";
  if (h->stored_len == 0 || h->stored_len > kMaxBlockStoredBytes) return "block stored length out of bounds";
  if (h->raw_len == 0 || h->raw_len > kMaxBlockRawBytes) return "block raw length out of bounds";
  if (h->type == kBlockRaw && h->stored_len != h->raw_len) return "raw block with stored != raw length";
  if (h->record_count == 0 || h->record_count > kMaxBlockRecords ||
      h->record_count > h->raw_len) return "block record count out of bounds";
  if (h->first_seq == 0 || h->first_seq > (~0ull >> 1)) return "block first_seq out of bounds";
  if (h->min_event_ms > h->max_event_ms || h->min_ingest_ms > h->max_ingest_ms) return "block time range inverted";
  return {};
}

bool is_zero_fill(const char* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

void encode_journal_header(const JournalHeader& h, char out[kJournalHeaderBytes]) {
  std::memset(out, 0, kJournalHeaderBytes);
  put_u32(out, kJournalMagic);
  put_u16(out + 4, kFormatVersion);
  put_u64(out + 8, h.first_seq);
  put_u32(out + 20, masked_checksum(out, 20));
}

std::string decode_journal_header(const char in[kJournalHeaderBytes], JournalHeader* h) {
  if (get_u32(in) != kJournalMagic) return "bad journal magic";
  if (unmask(get_u32(in + 20)) != xxh3_32(in, 20)) return "journal header checksum mismatch";
  if (get_u16(in + 4) != kFormatVersion) return "unsupported journal version";
  h->first_seq = get_u64(in + 8);
  return {};
}

}  // namespace outpost::store::format
