#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) in build/fuzz and runs each
# for HC_FUZZ_SECONDS (default 45) over a scratch copy of its committed corpus
# in tests/fuzz/corpus/<target>/, so what it finds never changes the tree.
# Fails on any crash, failed check, leak, timeout (10 s for one input) or use
# of more than 2 GiB; the input is left in build/fuzz/artifacts/ and can be
# replayed with `build/fuzz/tests/fuzz/<target> <file>`.
set -euo pipefail
cd "$(dirname "$0")/../.."

secs=${HC_FUZZ_SECONDS:-40}
build=build/fuzz
targets=(fuzz_content fuzz_parsers fuzz_watch_body)

CC=clang cmake -S . -B "$build" -DHC_FUZZ=ON -DHC_SANITIZE=ON >/dev/null
cmake --build "$build" -j2 --target "${targets[@]}"

mkdir -p "$build/artifacts"
for t in "${targets[@]}"; do
  work="$build/corpus/$t"
  rm -rf "$work"
  mkdir -p "$work"
  cp tests/fuzz/corpus/"$t"/* "$work"/
  opts=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$build/artifacts/$t-")
  if [ -f tests/fuzz/"$t".dict ]; then
    opts+=(-dict=tests/fuzz/"$t".dict)
  fi
  echo "fuzz: $t for ${secs}s over $(ls "$work" | wc -l) seeds"
  if ! "$build/tests/fuzz/$t" "${opts[@]}" "$work"; then
    echo "fuzz: $t FAILED; input in $build/artifacts/:" >&2
    ls -l "$build/artifacts" >&2
    exit 1
  fi
done
echo "fuzz: all targets ran ${secs}s each without a failure"
