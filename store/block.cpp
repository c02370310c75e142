#include "store/block.h"

#include <zstd.h>

namespace outpost::store {

using namespace format;

void encode_record(Buffer* raw, BlockMeta* meta, std::uint64_t seq, std::int64_t ingest_ms,
                   std::int64_t event_ms, const std::optional<std::string_view>& key,
                   std::string_view payload) {
  if (meta->count == 0) {
    meta->first_seq = seq;
    meta->min_event_ms = meta->max_event_ms = event_ms;
    meta->min_ingest_ms = meta->max_ingest_ms = ingest_ms;
    meta->prev_ingest_ms = ingest_ms;
  } else {
    if (event_ms < meta->min_event_ms) meta->min_event_ms = event_ms;
    if (event_ms > meta->max_event_ms) meta->max_event_ms = event_ms;
    if (ingest_ms < meta->min_ingest_ms) meta->min_ingest_ms = ingest_ms;
    if (ingest_ms > meta->max_ingest_ms) meta->max_ingest_ms = ingest_ms;
  }
  // Body first into a scratch area right after the longest possible length varint, then
  // move the length in front (cheap: one small memmove per record only if the varint is short).
  const std::size_t key_size = key ? key->size() : 0;
  char* start = raw->tail(kMaxRecordOverhead + key_size + payload.size());
  char* body = start + 5;
  char* p = body;
  p = put_varint64(p, zigzag(static_cast<std::int64_t>(static_cast<std::uint64_t>(ingest_ms) -
                                                       static_cast<std::uint64_t>(meta->prev_ingest_ms))));
  // Event time: the first record relative to its ingest time, the others relative to the
  // previous record's event time. Sensor feeds are nearly in event-time order, so the delta is
  // small even for history ingested long after the fact (a delta to ingest time would cost
  // ~6 incompressible bytes per record there).
  const std::int64_t event_base = meta->count == 0 ? ingest_ms : meta->prev_event_ms;
  p = put_varint64(p, zigzag(static_cast<std::int64_t>(static_cast<std::uint64_t>(event_ms) -
                                                       static_cast<std::uint64_t>(event_base))));
  *p++ = key ? static_cast<char>(kRecordHasKey) : 0;
  if (key) {
    p = put_varint64(p, key_size);
    std::memcpy(p, key->data(), key_size);
    p += key_size;
  }
  std::memcpy(p, payload.data(), payload.size());
  p += payload.size();
  const std::size_t body_len = static_cast<std::size_t>(p - body);
  const std::size_t len_len = varint_length(body_len);
  char* out = start;
  if (len_len < 5) std::memmove(start + len_len, body, body_len);
  put_varint64(out, body_len);
  raw->set_size(raw->size() + len_len + body_len);
  meta->prev_ingest_ms = ingest_ms;
  meta->prev_event_ms = event_ms;
  ++meta->count;
}

std::string RecordDecoder::next(RecordView* out) {
  if (left_ == 0) return "no more records in block";
  std::uint32_t body_len = 0;
  const char* p = get_varint32(p_, end_, &body_len);
  if (p == nullptr) return "record length truncated";
  if (body_len > static_cast<std::size_t>(end_ - p)) return "record length beyond block";
  const char* body_end = p + body_len;
  std::uint64_t d_ingest = 0, d_event = 0;
  p = get_varint64(p, body_end, &d_ingest);
  if (p == nullptr) return "record ingest time truncated";
  p = get_varint64(p, body_end, &d_event);
  if (p == nullptr || p >= body_end) return "record event time truncated";
  std::uint8_t flags = static_cast<std::uint8_t>(*p++);
  if ((flags & ~kRecordKnownFlags) != 0) return "record has unknown flags";
  out->has_key = (flags & kRecordHasKey) != 0;
  out->key = {};
  if (out->has_key) {
    std::uint32_t key_len = 0;
    p = get_varint32(p, body_end, &key_len);
    if (p == nullptr || key_len > static_cast<std::size_t>(body_end - p)) return "record key length beyond record";
    out->key = std::string_view(p, key_len);
    p += key_len;
  }
  out->payload = std::string_view(p, static_cast<std::size_t>(body_end - p));
  out->ingest_time_ms = static_cast<std::int64_t>(static_cast<std::uint64_t>(prev_ingest_) +
                                                  static_cast<std::uint64_t>(unzigzag(d_ingest)));
  const std::int64_t event_base = seq_ == first_seq_ ? out->ingest_time_ms : prev_event_;
  out->event_time_ms = static_cast<std::int64_t>(static_cast<std::uint64_t>(event_base) +
                                                 static_cast<std::uint64_t>(unzigzag(d_event)));
  prev_event_ = out->event_time_ms;
  out->seq = seq_;
  prev_ingest_ = out->ingest_time_ms;
  p_ = body_end;
  ++seq_;
  --left_;
  return {};
}

void ZstdCCtxDeleter::operator()(void* p) const { ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(p)); }
void ZstdDCtxDeleter::operator()(void* p) const { ZSTD_freeDCtx(static_cast<ZSTD_DCtx*>(p)); }

BlockCompressor::BlockCompressor(int level) : cctx_(ZSTD_createCCtx()), level_(level) {
  auto* c = static_cast<ZSTD_CCtx*>(cctx_.get());
  ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level_);
  // The frame's content checksum covers the raw block (our payload checksum covers the frame).
  ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
  ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 1);
}

Status BlockCompressor::compress(std::string_view raw, const BlockMeta& meta, Buffer* out) {
  if (cctx_ == nullptr) return Status::io_error("zstd: cannot create compression context");
  const std::size_t bound = ZSTD_compressBound(raw.size());
  char* hdr = out->tail(kBlockHeaderBytes + std::max(bound, raw.size()));
  char* payload = hdr + kBlockHeaderBytes;
  std::size_t n = ZSTD_compress2(static_cast<ZSTD_CCtx*>(cctx_.get()), payload, bound, raw.data(), raw.size());
  BlockHeader h;
  if (ZSTD_isError(n) || n >= raw.size()) {
    h.type = kBlockRaw;
    std::memcpy(payload, raw.data(), raw.size());
    n = raw.size();
  } else {
    h.type = kBlockZstd;
  }
  h.stored_len = static_cast<std::uint32_t>(n);
  h.raw_len = static_cast<std::uint32_t>(raw.size());
  h.record_count = meta.count;
  h.first_seq = meta.first_seq;
  h.min_event_ms = meta.min_event_ms;
  h.max_event_ms = meta.max_event_ms;
  h.min_ingest_ms = meta.min_ingest_ms;
  h.max_ingest_ms = meta.max_ingest_ms;
  h.payload_checksum = masked_checksum(payload, n);
  encode_block_header(h, hdr);
  out->set_size(out->size() + kBlockHeaderBytes + n);
  return Status::ok();
}

BlockDecompressor::BlockDecompressor() : dctx_(ZSTD_createDCtx()) {}

std::string BlockDecompressor::decode(const BlockHeader& h, std::string_view payload, Buffer* raw) {
  if (payload.size() != h.stored_len) return "block payload truncated";
  if (unmask(h.payload_checksum) != xxh3_32(payload.data(), payload.size())) {
    return "block payload checksum mismatch";
  }
  raw->clear();
  char* dst = raw->tail(h.raw_len);
  if (h.type == kBlockRaw) {
    std::memcpy(dst, payload.data(), h.raw_len);
  } else {
    if (dctx_ == nullptr) return "zstd: cannot create decompression context";
    std::size_t n = ZSTD_decompressDCtx(static_cast<ZSTD_DCtx*>(dctx_.get()), dst, h.raw_len,
                                        payload.data(), payload.size());
    if (ZSTD_isError(n)) return std::string("zstd: ") + ZSTD_getErrorName(n);
    if (n != h.raw_len) return "block decompressed to a different length than its header says";
  }
  raw->set_size(h.raw_len);
  return {};
}

std::string check_records(const BlockHeader& h, std::string_view raw) {
  RecordDecoder d(raw.data(), raw.data() + raw.size(), h.first_seq, h.record_count, h.min_ingest_ms);
  RecordView r;
  while (d.left() > 0) {
    std::string err = d.next(&r);
    if (!err.empty()) return err + " (seq " + std::to_string(d.next_seq()) + ")";
    if (r.event_time_ms < h.min_event_ms || r.event_time_ms > h.max_event_ms ||
        r.ingest_time_ms < h.min_ingest_ms || r.ingest_time_ms > h.max_ingest_ms) {
      return "record time outside block range (seq " + std::to_string(r.seq) + ")";
    }
  }
  if (!d.at_exact_end()) return "bytes after the last record of a block";
  return {};
}

void encode_journal_record(Buffer* out, std::uint64_t seq, std::int64_t ingest_ms,
                           std::int64_t event_ms, const std::optional<std::string_view>& key,
                           std::string_view payload) {
  out->clear();
  const std::size_t key_size = key ? key->size() : 0;
  char* start = out->tail(kJournalRecordHeaderBytes + kJournalBodyFixedBytes + 5 + key_size + payload.size());
  char* p = start + kJournalRecordHeaderBytes;
  put_u64(p, seq);
  put_u64(p + 8, static_cast<std::uint64_t>(ingest_ms));
  put_u64(p + 16, static_cast<std::uint64_t>(event_ms));
  p[24] = key ? static_cast<char>(kRecordHasKey) : 0;
  p += kJournalBodyFixedBytes;
  if (key) {
    p = put_varint64(p, key_size);
    std::memcpy(p, key->data(), key_size);
    p += key_size;
  }
  std::memcpy(p, payload.data(), payload.size());
  p += payload.size();
  std::size_t body_len = static_cast<std::size_t>(p - (start + kJournalRecordHeaderBytes));
  put_u32(start + 4, static_cast<std::uint32_t>(body_len));
  put_u32(start, masked_checksum(start + 4, 4 + body_len));
  out->set_size(kJournalRecordHeaderBytes + body_len);
}

std::size_t decode_journal_record(const char* p, const char* end, JournalRecord* r) {
  if (static_cast<std::size_t>(end - p) < kJournalRecordHeaderBytes) return 0;
  std::uint32_t len = get_u32(p + 4);
  if (len < kJournalBodyFixedBytes || len > kMaxRecordBytes + 64 ||
      len > static_cast<std::size_t>(end - p) - kJournalRecordHeaderBytes) {
    return 0;
  }
  if (unmask(get_u32(p)) != xxh3_32(p + 4, 4 + len)) return 0;
  const char* b = p + kJournalRecordHeaderBytes;
  const char* bend = b + len;
  r->seq = get_u64(b);
  r->ingest_ms = static_cast<std::int64_t>(get_u64(b + 8));
  r->event_ms = static_cast<std::int64_t>(get_u64(b + 16));
  std::uint8_t flags = static_cast<std::uint8_t>(b[24]);
  if ((flags & ~kRecordKnownFlags) != 0) return 0;
  const char* q = b + kJournalBodyFixedBytes;
  r->has_key = (flags & kRecordHasKey) != 0;
  r->key = {};
  if (r->has_key) {
    std::uint32_t key_len = 0;
    q = get_varint32(q, bend, &key_len);
    if (q == nullptr || key_len > static_cast<std::size_t>(bend - q)) return 0;
    r->key = std::string_view(q, key_len);
    q += key_len;
  }
  r->payload = std::string_view(q, static_cast<std::size_t>(bend - q));
  return kJournalRecordHeaderBytes + len;
}

}  // namespace outpost::store
