#include "store/segment.h"

#include <algorithm>

#include "store/block.h"

namespace outpost::store {

using namespace format;

std::string read_segment_header(const RandomAccessFile& f, SegmentHeader* h) {
  char buf[kSegmentHeaderBytes];
  std::size_t got = 0;
  Status st = f.read(0, sizeof buf, buf, &got);
  if (!st.is_ok()) return st.message();
  if (got < sizeof buf) return "segment header truncated (" + std::to_string(got) + " bytes)";
  return decode_segment_header(buf, h);
}

namespace {

// Finds the next offset in [from, limit) holding a valid block header whose first_seq is at
// least min_seq and whose block fits before limit. Returns limit if there is none.
Status find_next_header(const RandomAccessFile& f, std::uint64_t from, std::uint64_t limit,
                        std::uint64_t min_seq, std::uint64_t* found, BlockHeader* hdr) {
  constexpr std::size_t kChunk = 1 << 20;
  std::vector<char> buf(kChunk + kBlockHeaderBytes);
  std::uint64_t pos = from;
  while (pos + kBlockHeaderBytes <= limit) {
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), limit - pos));
    std::size_t got = 0;
    OUTPOST_RETURN_IF_ERROR(f.read(pos, want, buf.data(), &got));
    if (got < kBlockHeaderBytes) break;
    for (std::size_t i = 0; i + kBlockHeaderBytes <= got; ++i) {
      const char* p = buf.data() + i;
      if ((p[0] != kBlockZstd && p[0] != kBlockRaw) || p[1] != 0 || p[2] != 0 || p[3] != 0) continue;
      BlockHeader h;
      if (!decode_block_header(p, &h).empty()) continue;
      if (h.first_seq < min_seq) continue;
      if (pos + i + kBlockHeaderBytes + h.stored_len > limit) continue;
      *found = pos + i;
      *hdr = h;
      return Status::ok();
    }
    if (got < want) break;
    pos += got - kBlockHeaderBytes + 1;
  }
  *found = limit;
  return Status::ok();
}

}  // namespace

Status scan_segment(const RandomAccessFile& f, const ScanOptions& o, ScanResult* out) {
  std::uint64_t pos = o.start_offset;
  std::uint64_t expect = o.expected_seq;
  out->valid_end = pos;
  out->next_seq = expect;
  out->has_tail = false;
  out->tail_zero_fill = false;
  out->tail_last_seq = 0;
  out->tail_message.clear();
  const std::size_t first_new = out->entries.size();
  std::vector<char> payload;
  Buffer raw;
  BlockDecompressor decompressor;
  std::string tail_msg;

  auto add_valid = [&](std::uint64_t off, const BlockHeader& h) {
    BlockEntry e;
    e.offset = off;
    e.length = kBlockHeaderBytes + h.stored_len;
    e.first_seq = h.first_seq;
    e.last_seq = h.last_seq();
    e.count = h.record_count;
    e.raw_len = h.raw_len;
    e.min_event_ms = h.min_event_ms;
    e.max_event_ms = h.max_event_ms;
    e.min_ingest_ms = h.min_ingest_ms;
    e.max_ingest_ms = h.max_ingest_ms;
    out->entries.push_back(std::move(e));
  };

  while (pos < o.limit) {
    char hb[kBlockHeaderBytes];
    std::size_t got = 0;
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(kBlockHeaderBytes, o.limit - pos));
    OUTPOST_RETURN_IF_ERROR(f.read(pos, want, hb, &got));
    if (got < kBlockHeaderBytes) {
      tail_msg = "partial block header at end of file";
      if (is_zero_fill(hb, got)) out->tail_zero_fill = true;
      break;
    }
    if (hb[0] == static_cast<char>(kBlockZeroFill) && is_zero_fill(hb, kBlockHeaderBytes)) {
      // Zero fill: the end of the data, provided everything after it is zero too.
      std::uint64_t z = 0;
      BlockHeader h;
      OUTPOST_RETURN_IF_ERROR(find_next_header(f, pos, o.limit, expect, &z, &h));
      if (z >= o.limit) {
        tail_msg = "zero-filled space at end of file";
        out->tail_zero_fill = true;
        break;
      }
    }
    BlockHeader h;
    std::string err = decode_block_header(hb, &h);
    bool torn_at_end = false;
    if (err.empty() && pos + kBlockHeaderBytes + h.stored_len > o.limit) {
      err = "block extends past end of file";
      torn_at_end = true;
    }
    if (err.empty() && h.first_seq != expect) {
      if (h.first_seq < expect) err = "block sequence " + std::to_string(h.first_seq) +
                                      " goes back (expected " + std::to_string(expect) + ")";
    }
    if (err.empty() && o.verify_payloads) {
      payload.resize(h.stored_len);
      OUTPOST_RETURN_IF_ERROR(f.read(pos + kBlockHeaderBytes, h.stored_len, payload.data(), &got));
      std::string_view pv(payload.data(), got);
      if (got != h.stored_len) {
        err = "block payload truncated";
      } else if (o.deep) {
        err = decompressor.decode(h, pv, &raw);
        if (err.empty()) err = check_records(h, raw.view());
      } else if (unmask(h.payload_checksum) != xxh3_32(pv.data(), pv.size())) {
        err = "block payload checksum mismatch";
      }
      if (!err.empty()) {
        // The header is intact, so the damage is exactly this block.
        BlockEntry e;
        e.offset = pos;
        e.length = kBlockHeaderBytes + h.stored_len;
        e.first_seq = expect;
        e.last_seq = h.last_seq();
        e.damaged = true;
        e.message = err;
        out->entries.push_back(std::move(e));
        out->tail_last_seq = std::max(out->tail_last_seq, h.last_seq());
        expect = h.last_seq() + 1;
        pos += kBlockHeaderBytes + h.stored_len;
        continue;
      }
    }
    if (err.empty()) {
      if (h.first_seq > expect) {
        BlockEntry e;
        e.offset = pos;
        e.length = 0;
        e.first_seq = expect;
        e.last_seq = h.first_seq - 1;
        e.damaged = true;
        e.message = "sequence gap before block";
        out->entries.push_back(std::move(e));
      }
      add_valid(pos, h);
      pos += kBlockHeaderBytes + h.stored_len;
      expect = h.last_seq() + 1;
      out->valid_end = pos;
      out->next_seq = expect;
      continue;
    }
    if (torn_at_end) out->tail_last_seq = std::max(out->tail_last_seq, h.last_seq());
    // The header is not usable: look for the next valid block to bound the damage.
    std::uint64_t next = 0;
    BlockHeader nh;
    OUTPOST_RETURN_IF_ERROR(find_next_header(f, pos + 1, o.limit, expect, &next, &nh));
    if (next >= o.limit) {
      tail_msg = err;
      break;
    }
    BlockEntry e;
    e.offset = pos;
    e.length = next - pos;
    e.first_seq = expect;
    e.last_seq = nh.first_seq > expect ? nh.first_seq - 1 : 0;
    e.damaged = true;
    e.message = err;
    out->entries.push_back(std::move(e));
    pos = next;
    expect = nh.first_seq;
  }
  // Damage after the last valid block belongs to the tail, not the index.
  while (out->entries.size() > first_new && out->entries.back().damaged) {
    if (tail_msg.empty()) tail_msg = out->entries.back().message;
    out->entries.pop_back();
  }
  if (out->valid_end < o.limit) {
    out->has_tail = true;
    out->tail_message = tail_msg.empty() ? "damaged bytes at end of file" : tail_msg;
    if (!out->tail_zero_fill) {
      // Zero fill only if every tail byte is zero.
    }
  }
  for (std::size_t i = first_new; i < out->entries.size(); ++i) {
    const BlockEntry& e = out->entries[i];
    if (e.damaged) continue;
    out->records += e.count;
    out->raw_bytes += e.raw_len;
    if (!out->have_times) {
      out->min_event_ms = e.min_event_ms;
      out->max_event_ms = e.max_event_ms;
      out->min_ingest_ms = e.min_ingest_ms;
      out->max_ingest_ms = e.max_ingest_ms;
      out->have_times = true;
    } else {
      out->min_event_ms = std::min(out->min_event_ms, e.min_event_ms);
      out->max_event_ms = std::max(out->max_event_ms, e.max_event_ms);
      out->min_ingest_ms = std::min(out->min_ingest_ms, e.min_ingest_ms);
      out->max_ingest_ms = std::max(out->max_ingest_ms, e.max_ingest_ms);
    }
  }
  return Status::ok();
}

}  // namespace outpost::store
