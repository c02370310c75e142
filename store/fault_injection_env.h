// An Env for tests that simulates what the real world does to files (LevelDB
// fault_injection_test.cc, Redpanda failure_probes.h):
//  - drop_unsynced_data(): a power cut. Every file written through this Env is cut back to
//    what its last sync() covered, and files created since their directory was last synced
//    disappear.
//  - fail_write_after(k): the k-th append() from now (1 = the next) fails with EIO, once.
//  - set_space_limit(n): after n more bytes, appends fail with ENOSPC (a partial write first).
//  - set_fail_sync(true): every sync() fails with EIO.
// Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <set>

#include "store/env.h"

namespace outpost::store {

class FaultInjectionEnv final : public Env {
 public:
  explicit FaultInjectionEnv(Env* base = Env::posix()) : base_(base) {}

  void drop_unsynced_data();
  void fail_write_after(int k);
  void set_space_limit(std::uint64_t bytes);  // UINT64_MAX = unlimited
  void set_fail_sync(bool fail);
  std::uint64_t writes() const;  // appends seen so far

  Result<std::unique_ptr<WritableFile>> open_appendable(const std::filesystem::path& p) override;
  Result<std::unique_ptr<RandomAccessFile>> open_readable(const std::filesystem::path& p) override {
    return base_->open_readable(p);
  }
  Result<std::uint64_t> file_size(const std::filesystem::path& p) override { return base_->file_size(p); }
  bool exists(const std::filesystem::path& p) override { return base_->exists(p); }
  Result<std::vector<std::string>> list_dir(const std::filesystem::path& p) override {
    return base_->list_dir(p);
  }
  Status create_dirs(const std::filesystem::path& p) override { return base_->create_dirs(p); }
  Status remove_file(const std::filesystem::path& p) override;
  Status rename_file(const std::filesystem::path& from, const std::filesystem::path& to) override;
  Status truncate_file(const std::filesystem::path& p, std::uint64_t size) override;
  Status sync_dir(const std::filesystem::path& p) override;
  Result<std::unique_ptr<FileLock>> lock_file(const std::filesystem::path& p) override {
    return base_->lock_file(p);
  }

  // Used by the file wrappers.
  Status before_write(const std::filesystem::path& p, std::size_t n, std::size_t* allowed);
  void after_write(const std::filesystem::path& p, std::uint64_t new_size);
  Status on_sync(const std::filesystem::path& p, std::uint64_t size);
  void on_truncate(const std::filesystem::path& p, std::uint64_t size);

 private:
  struct FileState {
    std::uint64_t synced_size = 0;
    bool created_unsynced = false;  // created since its directory was last synced
  };
  Env* base_;
  mutable std::mutex mu_;
  std::map<std::string, FileState> files_;
  int fail_write_in_ = 0;  // 0 = off
  std::uint64_t space_left_ = ~0ull;
  bool fail_sync_ = false;
  std::uint64_t writes_ = 0;
};

}  // namespace outpost::store
