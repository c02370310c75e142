#!/usr/bin/env bash
# Builds every fuzz target with clang + libFuzzer (ASan + UBSan) and runs each for a while on a
# scratch copy of its seed corpus (the checked-in corpus is never modified). Any crash, leak or
# sanitizer report fails the run and leaves the input that caused it in build/fuzz/artifacts/:
# add it to tests/fuzz/corpus/<target>/ so the replay unit test keeps it fixed.
#
#   bash tools/fuzz.sh                      # 20 s per target (what tools/test.sh runs in CI)
#   OUTPOST_FUZZ_SECONDS=3600 bash tools/fuzz.sh fuzz_sql   # a long run of one target
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=${OUTPOST_FUZZ_SECONDS:-20}

need=()
command -v clang++ >/dev/null || need+=(clang)
ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a >/dev/null 2>&1 || need+=(libclang-rt-14-dev)
if ((${#need[@]})); then
  echo "fuzz: installing ${need[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

build=build/fuzz
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DOUTPOST_FUZZ=ON -DOUTPOST_BUILD_BENCH=OFF >/dev/null
targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(sed -n 's/^ *outpost_fuzz_target(NAME \(fuzz_[a-z_]*\).*/\1/p' tests/fuzz/CMakeLists.txt | grep -v '_$')
  for f in json csv kv; do targets+=("fuzz_decode_$f"); done
fi
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}"

mkdir -p "$build/artifacts"
status=0
for t in "${targets[@]}"; do
  seeds="tests/fuzz/corpus/${t#fuzz_}"
  work=$(mktemp -d)
  [[ -d "$seeds" ]] && cp -r "$seeds/." "$work/"
  # The config fuzzer also starts from every real and every broken config in the tree.
  if [[ "$t" == fuzz_config ]]; then
    find tests/config/broken examples systemd -name '*.yaml' -exec cp -t "$work/" {} + 2>/dev/null || true
  fi
  echo "=== fuzz $t: ${seconds}s from $(find "$work" -type f | wc -l) seeds ==="
  if ! "$build/tests/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="$root/$build/artifacts/$t-" -print_final_stats=1 "$work" >"$build/$t.log" 2>&1; then
    echo "=== fuzz $t: FAILED (input in $build/artifacts/, log $build/$t.log) ==="
    tail -n 40 "$build/$t.log"
    status=1
  else
    grep -E "^stat::number_of_executed_units|^Done" "$build/$t.log" | head -n 2 | sed "s/^/    /"
  fi
  rm -rf "$work"
done
exit $status
