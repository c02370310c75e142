#include "agent/runtime/memory.h"

#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace outpost::runtime {
namespace {

std::size_t rss_kib() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long size = 0, resident = 0;
  int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  if (n != 2) return 0;
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE)) / 1024;
}

struct Mapping {
  std::uintptr_t begin = 0;
  std::uintptr_t end = 0;
  bool candidate = false;  // private, not writable, backed by a file
  bool copied = false;     // holds an anonymous (copied-on-write) page
  std::size_t rss_kib = 0;
};

// The mappings of /proc/self/smaps that are safe to drop: read-only or executable private file
// mappings with no anonymous page.
std::vector<Mapping> clean_file_mappings() {
  std::vector<Mapping> out;
  std::FILE* f = std::fopen("/proc/self/smaps", "r");
  if (!f) return out;
  char line[4096];
  Mapping cur;
  bool have = false;
  auto flush = [&] {
    if (have && cur.candidate && !cur.copied && cur.rss_kib > 0) out.push_back(cur);
  };
  while (std::fgets(line, sizeof line, f)) {
    unsigned long begin = 0, end = 0, offset = 0, inode = 0;
    char perms[8] = {};
    char dev[16] = {};
    int path_at = 0;
    if (std::sscanf(line, "%lx-%lx %7s %lx %15s %lu %n", &begin, &end, perms, &offset, dev, &inode, &path_at) >= 6 &&
        std::strchr(line, '-') < std::strchr(line, ' ')) {
      flush();
      cur = Mapping{};
      have = true;
      cur.begin = begin;
      cur.end = end;
      const char* path = line + path_at;
      cur.candidate = inode != 0 && path[0] == '/' && perms[0] == 'r' && perms[1] == '-' && perms[3] == 'p';
      continue;
    }
    unsigned long kib = 0;
    if (std::sscanf(line, "Rss: %lu kB", &kib) == 1) cur.rss_kib = kib;
    else if (std::sscanf(line, "Anonymous: %lu kB", &kib) == 1 && kib > 0) cur.copied = true;
    else if (std::sscanf(line, "Private_Dirty: %lu kB", &kib) == 1 && kib > 0) cur.copied = true;
  }
  flush();
  std::fclose(f);
  return out;
}

}  // namespace

void configure_allocator() { mallopt(M_ARENA_MAX, 1); }

void trim_free_heap() { malloc_trim(0); }

ReleaseReport release_startup_memory() {
  ReleaseReport r;
  r.rss_before_kib = rss_kib();
  malloc_trim(0);
  for (const Mapping& m : clean_file_mappings()) {
    if (madvise(reinterpret_cast<void*>(m.begin), m.end - m.begin, MADV_DONTNEED) == 0) ++r.mappings;
  }
  r.rss_after_kib = rss_kib();
  return r;
}

}  // namespace outpost::runtime
