#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include <cerrno>
#include <cstring>

#include "store/env.h"

namespace outpost::store {
namespace {

Status errno_status(const std::string& what, const std::filesystem::path& p, int err) {
  std::string msg = p.string() + ": " + what + ": " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT) return Status::full(msg);
  return Status::io_error(msg);
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::filesystem::path p, int fd, std::uint64_t size)
      : path_(std::move(p)), fd_(fd), size_(size) {}
  ~PosixWritableFile() override { ::close(fd_); }

  Status append(std::string_view data) override {
    const char* p = data.data();
    std::size_t left = data.size();
    while (left > 0) {
      ssize_t n = ::write(fd_, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno_status("write", path_, errno);
      }
      p += n;
      left -= static_cast<std::size_t>(n);
      size_ += static_cast<std::uint64_t>(n);
    }
    return Status::ok();
  }
  Status sync() override {
#if defined(OUTPOST_HAVE_FDATASYNC)
    int rc = ::fdatasync(fd_);
#else
    int rc = ::fsync(fd_);
#endif
    if (rc != 0) return errno_status("fdatasync", path_, errno);
    return Status::ok();
  }
  Status truncate(std::uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) return errno_status("ftruncate", path_, errno);
    size_ = size;
    return Status::ok();
  }
  std::uint64_t size() const override { return size_; }

 private:
  std::filesystem::path path_;
  int fd_;
  std::uint64_t size_;
};

class PosixRandomAccessFile final : public RandomAccessFile {
 public:
  PosixRandomAccessFile(std::filesystem::path p, int fd) : path_(std::move(p)), fd_(fd) {}
  ~PosixRandomAccessFile() override { ::close(fd_); }
  Status read(std::uint64_t offset, std::size_t n, char* dst, std::size_t* got) const override {
    std::size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd_, dst + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return errno_status("pread", path_, errno);
      }
      if (r == 0) break;
      done += static_cast<std::size_t>(r);
    }
    *got = done;
    return Status::ok();
  }
  Result<std::uint64_t> size() const override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return errno_status("fstat", path_, errno);
    return static_cast<std::uint64_t>(st.st_size);
  }

 private:
  std::filesystem::path path_;
  int fd_;
};

class PosixFileLock final : public FileLock {
 public:
  explicit PosixFileLock(int fd) : fd_(fd) {}
  ~PosixFileLock() override {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }

 private:
  int fd_;
};

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<WritableFile>> open_appendable(const std::filesystem::path& p) override {
    int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return errno_status("open for append", p, errno);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      int e = errno;
      ::close(fd);
      return errno_status("fstat", p, e);
    }
    return std::unique_ptr<WritableFile>(
        new PosixWritableFile(p, fd, static_cast<std::uint64_t>(st.st_size)));
  }
  Result<std::unique_ptr<RandomAccessFile>> open_readable(const std::filesystem::path& p) override {
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return Status::not_found(p.string() + ": no such file");
      return errno_status("open", p, errno);
    }
    return std::unique_ptr<RandomAccessFile>(new PosixRandomAccessFile(p, fd));
  }
  Result<std::uint64_t> file_size(const std::filesystem::path& p) override {
    struct stat st;
    if (::stat(p.c_str(), &st) != 0) {
      if (errno == ENOENT) return Status::not_found(p.string() + ": no such file");
      return errno_status("stat", p, errno);
    }
    return static_cast<std::uint64_t>(st.st_size);
  }
  bool exists(const std::filesystem::path& p) override {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0;
  }
  Result<std::vector<std::string>> list_dir(const std::filesystem::path& p) override {
    DIR* d = ::opendir(p.c_str());
    if (d == nullptr) {
      if (errno == ENOENT) return Status::not_found(p.string() + ": no such directory");
      return errno_status("opendir", p, errno);
    }
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(std::move(n));
    }
    ::closedir(d);
    return names;
  }
  Status create_dirs(const std::filesystem::path& p) override {
    std::error_code ec;
    std::filesystem::create_directories(p, ec);
    if (ec) return Status::io_error(p.string() + ": create directory: " + ec.message());
    return Status::ok();
  }
  Status remove_file(const std::filesystem::path& p) override {
    if (::unlink(p.c_str()) != 0 && errno != ENOENT) return errno_status("unlink", p, errno);
    return Status::ok();
  }
  Status rename_file(const std::filesystem::path& from, const std::filesystem::path& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return errno_status("rename to " + to.string(), from, errno);
    return Status::ok();
  }
  Status truncate_file(const std::filesystem::path& p, std::uint64_t size) override {
    if (::truncate(p.c_str(), static_cast<off_t>(size)) != 0) return errno_status("truncate", p, errno);
    return Status::ok();
  }
  Status sync_dir(const std::filesystem::path& p) override {
    int fd = ::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno_status("open directory", p, errno);
    int rc = ::fsync(fd);
    int e = errno;
    ::close(fd);
    if (rc != 0) return errno_status("fsync directory", p, e);
    return Status::ok();
  }
  Result<std::unique_ptr<FileLock>> lock_file(const std::filesystem::path& p) override {
    int fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return errno_status("open lock file", p, errno);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int e = errno;
      ::close(fd);
      if (e == EWOULDBLOCK) {
        return Status::busy(p.string() + ": data directory is locked by another outpost process "
                            "(stop it, or open read-only)");
      }
      return errno_status("flock", p, e);
    }
    return std::unique_ptr<FileLock>(new PosixFileLock(fd));
  }
};

}  // namespace

Env* Env::posix() {
  static PosixEnv* env = new PosixEnv();
  return env;
}

}  // namespace outpost::store
