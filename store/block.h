// Records <-> raw blocks <-> stored (zstd) blocks, per store/FORMAT.md. Internal to store/.
// Nothing here allocates per record: buffers grow geometrically and are reused.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "store/format.h"
#include "store/log.h"

namespace outpost::store {

// A growable byte buffer without zero-filling (std::string::resize would memset).
class Buffer {
 public:
  char* data() { return data_.get(); }
  const char* data() const { return data_.get(); }
  std::size_t size() const { return size_; }
  std::size_t capacity() const { return cap_; }
  void clear() { size_ = 0; }
  void reserve(std::size_t n) {
    if (n <= cap_) return;
    std::size_t c = cap_ ? cap_ : 256;
    while (c < n) c *= 2;
    std::unique_ptr<char[]> d(new char[c]);
    if (size_) std::memcpy(d.get(), data_.get(), size_);
    data_ = std::move(d);
    cap_ = c;
  }
  // Makes room for n more bytes and returns where they go; commit with set_size.
  char* tail(std::size_t n) {
    reserve(size_ + n);
    return data_.get() + size_;
  }
  void set_size(std::size_t n) { size_ = n; }
  void append(const void* p, std::size_t n) {
    std::memcpy(tail(n), p, n);
    size_ += n;
  }
  std::string_view view() const { return {data_.get(), size_}; }
  // Empties the buffer for a block of about `need` bytes, and gives its memory back when that
  // is far larger (over 4x need and over kKeptBytes). Blocks written during a burst (catch-up
  // after an outage, a group commit running late on a loaded box) are many times the steady
  // ones; a reused buffer used to stay the size of the largest block it ever held, in every
  // reader and in the writer (bench/soak: RSS stepped up ~4 MiB after one burst and stayed).
  // Buffers up to kKeptBytes are kept, so steady use does not allocate per block.
  void clear_for(std::size_t need) {
    size_ = 0;
    if (cap_ > std::max<std::size_t>(kKeptBytes, 4 * need)) {
      data_.reset();
      cap_ = 0;
    }
  }

  // 16 KiB, not 256 KiB: with ~15 such buffers (two per reader, the compressor's, the
  // writer's), each kept up to 256 KiB once a burst had grown it, heaptrack still found 0.65 MB
  // more of them live after a 20 s stall than in an undisturbed run (bench/soak, 2026-11-30),
  // and in a steady hour every odd-sized block could ratchet one up a doubling for good. A
  // steady block of a busy stream is a few KiB stored and ~13 KiB raw at 800 msgs/s; the 4x
  // margin keeps a buffer whose blocks vary in size from being reallocated every block.
  static constexpr std::size_t kKeptBytes = 16u << 10;

 private:
  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0;
  std::size_t cap_ = 0;
};

// Metadata of a raw block being built.
struct BlockMeta {
  std::uint64_t first_seq = 0;
  std::uint32_t count = 0;
  std::int64_t min_event_ms = 0, max_event_ms = 0;
  std::int64_t min_ingest_ms = 0, max_ingest_ms = 0;
  std::int64_t prev_ingest_ms = 0;  // ingest time of the last record (delta base)
  std::int64_t prev_event_ms = 0;   // event time of the last record (delta base after the first)
};

// Size of one record's framing + contents in a raw block (upper bound exact enough to decide
// whether it fits).
inline std::size_t record_encoded_bound(const AppendRecord& r) {
  return format::kMaxRecordOverhead + (r.key ? r.key->size() : 0) + r.payload.size();
}

// Appends one record to a raw block. seq must be meta->first_seq + meta->count.
void encode_record(Buffer* raw, BlockMeta* meta, std::uint64_t seq, std::int64_t ingest_ms,
                   std::int64_t event_ms, const std::optional<std::string_view>& key,
                   std::string_view payload);

// Decodes records of one raw block in order. Every length is bounds-checked against the block.
class RecordDecoder {
 public:
  RecordDecoder() = default;
  // [p, end) is a raw block in the stored layout (see to_stored_layout).
  RecordDecoder(const char* p, const char* end, std::uint64_t first_seq, std::uint32_t count,
                std::int64_t min_ingest_ms);
  std::uint32_t left() const { return left_; }
  std::uint64_t next_seq() const { return seq_; }
  // Decodes the next record into *out. Returns an empty string on success, else why the
  // framing or check is bad (the rest of the block is then unusable).
  std::string next(RecordView* out);
  // After the last record: the block must end exactly there.
  bool at_exact_end() const { return bad_ == nullptr && p_ == hend_ && d_ == end_; }

 private:
  const char* p_ = nullptr;
  const char* end_ = nullptr;
  std::uint64_t seq_ = 0;
  std::uint32_t left_ = 0;
  std::int64_t prev_ingest_ = 0;
  std::int64_t prev_event_ = 0;
  std::uint64_t first_seq_ = 0;
  const char* hend_ = nullptr;  // end of the header section
  const char* d_ = nullptr;     // next record's bytes in the data section
  const char* bad_ = nullptr;   // set when the section header itself is bad
};

// Turns an open block (the append-time layout written by encode_record, one record after the
// other) into the stored layout that is compressed and that RecordDecoder reads:
//   u32 header_bytes | per record: varint zigzag ingest delta, varint zigzag event delta,
//   varint (key_len + 1, or 0 = no key), varint payload_len | per record: key bytes, payload.
// Returns an error text if the open block is malformed (a bug, never user data).
std::string to_stored_layout(std::string_view open, std::uint32_t count, Buffer* out);

struct ZstdCCtxDeleter {
  void operator()(void* p) const;
};
struct ZstdDCtxDeleter {
  void operator()(void* p) const;
};

// Compresses raw blocks with one reused ZSTD_CCtx. Used by the flusher thread only.
class BlockCompressor {
 public:
  explicit BlockCompressor(int level);
  // Appends header + payload of one stored block for the raw bytes to *out. Uses type 2
  // (uncompressed) when zstd does not make the block smaller.
  Status compress(std::string_view raw, const BlockMeta& meta, Buffer* out);

 private:
  std::unique_ptr<void, ZstdCCtxDeleter> cctx_;
  int level_;
  Buffer stored_;  // the block in its stored layout, reused
};

// Verifies and decompresses a stored block with one reused ZSTD_DCtx. One user at a time.
class BlockDecompressor {
 public:
  BlockDecompressor();
  // payload = stored bytes after the header. Checks the payload checksum and sizes; fills
  // *raw with exactly h.raw_len bytes. Returns an empty string, or what is wrong.
  std::string decode(const format::BlockHeader& h, std::string_view payload, Buffer* raw);

 private:
  std::unique_ptr<void, ZstdDCtxDeleter> dctx_;
};

// Checks every record of a decompressed block: framing, checks, count and exact end.
// Returns an empty string, or what is wrong.
std::string check_records(const format::BlockHeader& h, std::string_view raw);

// ---- Intake journal records --------------------------------------------------------------
// Encodes one journal record (header + body) into *out (cleared first).
void encode_journal_record(Buffer* out, std::uint64_t seq, std::int64_t ingest_ms,
                           std::int64_t event_ms, const std::optional<std::string_view>& key,
                           std::string_view payload);
struct JournalRecord {
  std::uint64_t seq = 0;
  std::int64_t ingest_ms = 0, event_ms = 0;
  bool has_key = false;
  std::string_view key, payload;
};
// Decodes one journal record at p. Returns bytes consumed, 0 if torn/corrupt.
std::size_t decode_journal_record(const char* p, const char* end, JournalRecord* r);

}  // namespace outpost::store
