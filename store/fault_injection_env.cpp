#include "store/fault_injection_env.h"

namespace outpost::store {
namespace {

class FaultWritableFile final : public WritableFile {
 public:
  FaultWritableFile(FaultInjectionEnv* env, std::filesystem::path p, std::unique_ptr<WritableFile> f)
      : env_(env), path_(std::move(p)), file_(std::move(f)) {}
  Status append(std::string_view data) override {
    std::size_t allowed = data.size();
    Status st = env_->before_write(path_, data.size(), &allowed);
    if (allowed > 0) {
      Status w = file_->append(data.substr(0, allowed));
      if (!w.is_ok()) return w;
      env_->after_write(path_, file_->size());
    }
    return st;
  }
  Status sync() override {
    OUTPOST_RETURN_IF_ERROR(env_->on_sync(path_, file_->size()));
    return file_->sync();
  }
  Status truncate(std::uint64_t size) override {
    OUTPOST_RETURN_IF_ERROR(file_->truncate(size));
    env_->on_truncate(path_, size);
    return Status::ok();
  }
  std::uint64_t size() const override { return file_->size(); }

 private:
  FaultInjectionEnv* env_;
  std::filesystem::path path_;
  std::unique_ptr<WritableFile> file_;
};

}  // namespace

void FaultInjectionEnv::fail_write_after(int k) {
  std::lock_guard lock(mu_);
  fail_write_in_ = k;
}
void FaultInjectionEnv::set_space_limit(std::uint64_t bytes) {
  std::lock_guard lock(mu_);
  space_left_ = bytes;
}
void FaultInjectionEnv::set_fail_sync(bool fail) {
  std::lock_guard lock(mu_);
  fail_sync_ = fail;
}
std::uint64_t FaultInjectionEnv::writes() const {
  std::lock_guard lock(mu_);
  return writes_;
}

Result<std::unique_ptr<WritableFile>> FaultInjectionEnv::open_appendable(const std::filesystem::path& p) {
  bool existed = base_->exists(p);
  auto f = base_->open_appendable(p);
  if (!f) return f.status();
  {
    std::lock_guard lock(mu_);
    auto [it, inserted] = files_.try_emplace(p.string());
    if (inserted) {
      it->second.synced_size = existed ? (*f)->size() : 0;
      it->second.created_unsynced = !existed;
    }
  }
  return std::unique_ptr<WritableFile>(new FaultWritableFile(this, p, std::move(*f)));
}

Status FaultInjectionEnv::before_write(const std::filesystem::path& p, std::size_t n, std::size_t* allowed) {
  std::lock_guard lock(mu_);
  ++writes_;
  *allowed = n;
  if (fail_write_in_ > 0 && --fail_write_in_ == 0) {
    *allowed = 0;
    return Status::io_error(p.string() + ": write: injected I/O error");
  }
  if (n > space_left_) {
    *allowed = static_cast<std::size_t>(space_left_);
    space_left_ = 0;
    return Status::full(p.string() + ": write: No space left on device (injected)");
  }
  if (space_left_ != ~0ull) space_left_ -= n;
  return Status::ok();
}

void FaultInjectionEnv::after_write(const std::filesystem::path&, std::uint64_t) {}

Status FaultInjectionEnv::on_sync(const std::filesystem::path& p, std::uint64_t size) {
  std::lock_guard lock(mu_);
  if (fail_sync_) return Status::io_error(p.string() + ": fdatasync: injected I/O error");
  files_[p.string()].synced_size = size;
  return Status::ok();
}

void FaultInjectionEnv::on_truncate(const std::filesystem::path& p, std::uint64_t size) {
  std::lock_guard lock(mu_);
  auto& f = files_[p.string()];
  if (f.synced_size > size) f.synced_size = size;
}

Status FaultInjectionEnv::remove_file(const std::filesystem::path& p) {
  {
    std::lock_guard lock(mu_);
    files_.erase(p.string());
  }
  return base_->remove_file(p);
}

Status FaultInjectionEnv::rename_file(const std::filesystem::path& from, const std::filesystem::path& to) {
  {
    std::lock_guard lock(mu_);
    auto it = files_.find(from.string());
    if (it != files_.end()) {
      FileState s = it->second;
      files_.erase(it);
      files_[to.string()] = s;
    }
  }
  return base_->rename_file(from, to);
}

Status FaultInjectionEnv::truncate_file(const std::filesystem::path& p, std::uint64_t size) {
  OUTPOST_RETURN_IF_ERROR(base_->truncate_file(p, size));
  on_truncate(p, size);
  return Status::ok();
}

Status FaultInjectionEnv::sync_dir(const std::filesystem::path& p) {
  {
    std::lock_guard lock(mu_);
    for (auto& [name, f] : files_) {
      if (std::filesystem::path(name).parent_path() == p) f.created_unsynced = false;
    }
  }
  return base_->sync_dir(p);
}

void FaultInjectionEnv::drop_unsynced_data() {
  std::lock_guard lock(mu_);
  for (auto it = files_.begin(); it != files_.end();) {
    if (it->second.created_unsynced) {
      (void)base_->remove_file(it->first);
      it = files_.erase(it);
      continue;
    }
    auto size = base_->file_size(it->first);
    if (size && *size > it->second.synced_size) (void)base_->truncate_file(it->first, it->second.synced_size);
    ++it;
  }
}

}  // namespace outpost::store
