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

RecordDecoder::RecordDecoder(const char* p, const char* end, std::uint64_t first_seq, std::uint32_t count,
                             std::int64_t min_ingest_ms)
    : seq_(first_seq), left_(count), prev_ingest_(min_ingest_ms), first_seq_(first_seq) {
  // Stored layout: u32 header_bytes | header section | data section. A bad header_bytes
  // leaves the decoder empty-handed: next() then reports the block as damaged.
  if (end - p < 4) {
    bad_ = "raw block shorter than its section header";
    return;
  }
  const std::uint32_t header_bytes = get_u32(p);
  if (header_bytes > static_cast<std::size_t>(end - p - 4)) {
    bad_ = "raw block header section beyond block";
    return;
  }
  p_ = p + 4;
  hend_ = p_ + header_bytes;
  d_ = hend_;
  end_ = end;
}

std::string RecordDecoder::next(RecordView* out) {
  if (bad_ != nullptr) return bad_;
  if (left_ == 0) return "no more records in block";
  std::uint64_t d_ingest = 0, d_event = 0;
  std::uint32_t key_len1 = 0, payload_len = 0;
  const char* p = get_varint64(p_, hend_, &d_ingest);
  if (p == nullptr) return "record ingest time truncated";
  p = get_varint64(p, hend_, &d_event);
  if (p == nullptr) return "record event time truncated";
  p = get_varint32(p, hend_, &key_len1);
  if (p == nullptr) return "record key length truncated";
  p = get_varint32(p, hend_, &payload_len);
  if (p == nullptr) return "record payload length truncated";
  const std::size_t key_len = key_len1 == 0 ? 0 : key_len1 - 1;
  const std::size_t data_left = static_cast<std::size_t>(end_ - d_);
  if (key_len > data_left || payload_len > data_left - key_len) return "record data beyond block";
  out->has_key = key_len1 != 0;
  out->key = std::string_view(d_, key_len);
  out->payload = std::string_view(d_ + key_len, payload_len);
  out->ingest_time_ms = static_cast<std::int64_t>(static_cast<std::uint64_t>(prev_ingest_) +
                                                  static_cast<std::uint64_t>(unzigzag(d_ingest)));
  const std::int64_t event_base = seq_ == first_seq_ ? out->ingest_time_ms : prev_event_;
  out->event_time_ms = static_cast<std::int64_t>(static_cast<std::uint64_t>(event_base) +
                                                 static_cast<std::uint64_t>(unzigzag(d_event)));
  prev_event_ = out->event_time_ms;
  out->seq = seq_;
  prev_ingest_ = out->ingest_time_ms;
  p_ = p;
  d_ += key_len + payload_len;
  ++seq_;
  --left_;
  return {};
}

std::string to_stored_layout(std::string_view open, std::uint32_t count, Buffer* out) {
  // The open (append-time) layout interleaves each record's framing with its bytes; reading it
  // back sequentially gives the fields to split into the two sections.
  out->clear();
  std::size_t header_bound = static_cast<std::size_t>(count) * (10 + 10 + 5 + 5);
  char* base = out->tail(4 + header_bound + open.size());
  char* h = base + 4;
  // First pass: headers. Second pass: data. Both walk the open layout.
  const char* p = open.data();
  const char* end = p + open.size();
  for (std::uint32_t i = 0; i < count; ++i) {
    std::uint32_t body_len = 0;
    p = get_varint32(p, end, &body_len);
    if (p == nullptr || body_len > static_cast<std::size_t>(end - p)) return "open block record length";
    const char* body_end = p + body_len;
    std::uint64_t d_ingest = 0, d_event = 0;
    p = get_varint64(p, body_end, &d_ingest);
    if (p == nullptr) return "open block ingest time";
    p = get_varint64(p, body_end, &d_event);
    if (p == nullptr || p >= body_end) return "open block event time";
    const std::uint8_t flags = static_cast<std::uint8_t>(*p++);
    std::uint32_t key_len = 0;
    if (flags & kRecordHasKey) {
      p = get_varint32(p, body_end, &key_len);
      if (p == nullptr || key_len > static_cast<std::size_t>(body_end - p)) return "open block key length";
      p += key_len;
    }
    h = put_varint64(h, d_ingest);
    h = put_varint64(h, d_event);
    h = put_varint64(h, (flags & kRecordHasKey) ? key_len + 1u : 0u);
    h = put_varint64(h, static_cast<std::uint64_t>(body_end - p));
    p = body_end;
  }
  const std::uint32_t header_bytes = static_cast<std::uint32_t>(h - (base + 4));
  put_u32(base, header_bytes);
  char* d = h;
  p = open.data();
  for (std::uint32_t i = 0; i < count; ++i) {
    std::uint32_t body_len = 0;
    p = get_varint32(p, end, &body_len);
    const char* body_end = p + body_len;
    std::uint64_t skip = 0;
    p = get_varint64(p, body_end, &skip);
    p = get_varint64(p, body_end, &skip);
    const std::uint8_t flags = static_cast<std::uint8_t>(*p++);
    if (flags & kRecordHasKey) {
      std::uint32_t key_len = 0;
      p = get_varint32(p, body_end, &key_len);
    }
    const std::size_t n = static_cast<std::size_t>(body_end - p);  // key bytes + payload
    std::memcpy(d, p, n);
    d += n;
    p = body_end;
  }
  out->set_size(static_cast<std::size_t>(d - base));
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

Status BlockCompressor::compress(std::string_view open, const BlockMeta& meta, Buffer* out) {
  if (cctx_ == nullptr) return Status::io_error("zstd: cannot create compression context");
  // Framing in one section, record bytes in the other: zstd then sees the payloads back to
  // back, as the zstd CLI would, and the small regular framing fields compress to almost nothing.
  stored_.clear_for(open.size());
  std::string err = to_stored_layout(open, meta.count, &stored_);
  if (!err.empty()) return Status::corruption("building a block: " + err);
  const std::string_view raw = stored_.view();
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
