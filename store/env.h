// The file-system interface store/ does all its file I/O through (LevelDB's Env), so a test
// can swap in one that drops unsynced data, fails the k-th write or fills up
// (store/fault_injection_env.h). The SQLite catalog uses SQLite's own VFS, not this.
//
// Thread-safety: Env methods may be called from any thread. A WritableFile is used by one
// thread at a time; a RandomAccessFile may be read from several threads (pread).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace outpost::store {

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Appends at the end of the file with one write() (looping only on short writes).
  virtual Status append(std::string_view data) = 0;
  // fdatasync (fsync where fdatasync is missing).
  virtual Status sync() = 0;
  virtual Status truncate(std::uint64_t size) = 0;
  // Size of the file as this handle knows it (bytes written so far).
  virtual std::uint64_t size() const = 0;
};

class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  // Reads up to n bytes at offset into dst; *got < n only at end of file.
  virtual Status read(std::uint64_t offset, std::size_t n, char* dst, std::size_t* got) const = 0;
  virtual Result<std::uint64_t> size() const = 0;
};

class FileLock {
 public:
  virtual ~FileLock() = default;  // releases the lock
};

class Env {
 public:
  virtual ~Env() = default;
  // Opens for appending, creating the file if missing; existing bytes are kept.
  virtual Result<std::unique_ptr<WritableFile>> open_appendable(const std::filesystem::path& p) = 0;
  virtual Result<std::unique_ptr<RandomAccessFile>> open_readable(const std::filesystem::path& p) = 0;
  virtual Result<std::uint64_t> file_size(const std::filesystem::path& p) = 0;
  virtual bool exists(const std::filesystem::path& p) = 0;
  // Names (not paths) of the entries in a directory, unsorted.
  virtual Result<std::vector<std::string>> list_dir(const std::filesystem::path& p) = 0;
  virtual Status create_dirs(const std::filesystem::path& p) = 0;
  virtual Status remove_file(const std::filesystem::path& p) = 0;
  virtual Status rename_file(const std::filesystem::path& from, const std::filesystem::path& to) = 0;
  virtual Status truncate_file(const std::filesystem::path& p, std::uint64_t size) = 0;
  // fsyncs a directory so that created, renamed or removed entries survive a power cut.
  virtual Status sync_dir(const std::filesystem::path& p) = 0;
  // Exclusive advisory lock (flock). Status::busy if another process holds it.
  virtual Result<std::unique_ptr<FileLock>> lock_file(const std::filesystem::path& p) = 0;

  // The real file system; never null, never freed.
  static Env* posix();
};

}  // namespace outpost::store
