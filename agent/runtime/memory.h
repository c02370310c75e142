// Keeping the idle daemon small (issue 3: < 10 MiB RSS at idle on a 1 GB board).
//
// What an idle `outpost run` holds is mostly clean pages of shared libraries and of the binary
// that only start-up touched: yaml-cpp and the config table, CLI11, OpenSSL's initialisation
// (run by a library constructor even without TLS), SQLite opening the catalog, recovery. They
// stay mapped (and counted in RSS) although nothing runs them again. The process's own memory
// (heap, stacks, malloc arenas) is about 1 MiB of it.
//
// Threads: configure_allocator() must run first thing in main/run, before other threads start;
// release_startup_memory() may run on any thread (the loop thread calls it once the daemon is
// ready, and again after an ingest burst has gone quiet).
#pragma once

#include <cstddef>

namespace outpost::runtime {

// glibc malloc: one arena for all threads (glibc makes one per thread that allocates otherwise,
// and each keeps its own free pages and fragments). One instead of two: 1.2 MiB less RSS
// (16.9 vs 18.0 MiB, first-window medians) at 59.1 vs 57.3 us of CPU per event, four soaks side
// by side on two cores at 1200 msgs/s (bench/soak, 2026-11-30): the threads that allocate are
// librdkafka's and Paho's, at a few hundred allocations per message set, not enough to contend.
// glibc's mmap threshold stays dynamic: librdkafka allocates and frees a zstd
// workspace (0.1-2 MiB) for every message set it compresses, dozens a second with a few
// mirrors; served from an arena they reuse pages already mapped, while a fixed 128 KiB
// threshold made each one a fresh mapping whose every page faulted in (+40% daemon CPU per
// event in bench/soak). The free pages they leave behind are what trim_free_heap() returns.
// Per-thread caches (tcache) cannot be turned off from here: glibc reads that only from
// GLIBC_TUNABLES at start-up, so systemd/outpost.service sets glibc.malloc.tcache_count=0.
// Call before any thread starts.
void configure_allocator();

struct ReleaseReport {
  std::size_t mappings = 0;      // clean file-backed mappings whose pages were unmapped
  std::size_t rss_before_kib = 0;
  std::size_t rss_after_kib = 0;
};

// Gives the pages of free heap chunks back to the kernel (malloc_trim(0)). glibc returns free
// memory at the top of a heap by itself, but not the pages of free chunks below a live one,
// and a steady load never runs release_startup_memory(): librdkafka's zstd workspaces (above)
// and bursts of small allocations (a mirror catching up after an outage has librdkafka copy
// every queued record; a query starting from the earliest record) left up to ~8 MiB resident
// and unused, more the longer the daemon ran (bench/soak). The daemon calls it every 10 s: it
// walks the free lists (well under a millisecond for a heap of a few MiB), and what it returns
// is faulted back in at most once per call. Once a minute left a sawtooth of 1.5-4.5 MiB of
// main heap within each minute (bench/soak, a quiet hour at 800 msgs/s), nearly as large as
// everything else the daemon holds.
void trim_free_heap();

// Gives back what start-up (or a burst) left resident and will not need soon:
//  - free heap pages (malloc_trim(0));
//  - the pages of clean, read-only, file-backed mappings (code and constants of the binary and
//    its libraries): they are dropped from this process's page tables with MADV_DONTNEED and
//    come back from the page cache, unchanged, on the next use (a minor fault, no I/O while the
//    file stays cached). A mapping holding any copied-on-write page (relocations, RELRO) or
//    that is writable is never touched, so nothing this process wrote is lost.
// Never fails; reads /proc/self/smaps. Not for hot paths (a few milliseconds).
ReleaseReport release_startup_memory();

}  // namespace outpost::runtime
