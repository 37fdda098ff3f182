#!/usr/bin/env bash
# Fuzz smoke test: builds fuzz/ (cargo-fuzz layout, its own workspace) and runs every
# target for FUZZ_SECONDS (default 20) on its seed corpus. A crash fails the script and
# leaves the input in fuzz/artifacts/<target>/. The long campaign: docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${FUZZ_SECONDS:-20}"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-../target}/fuzz}"

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "!!!!!! fuzz smoke SKIPPED: no nightly toolchain (rustup toolchain install nightly) !!!!!!"
  exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  # From crates.io, like every other dependency; the fallback below needs nothing more.
  cargo install cargo-fuzz --locked --quiet || echo "cargo-fuzz not installable; building with plain cargo"
fi

targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^sentinel-fuzz$')
triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
if cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo +nightly fuzz build --sanitizer none
else
  # The instrumentation cargo-fuzz adds with `--sanitizer none`.
  RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions" \
    cargo +nightly build --release --target "$triple" --bins
fi

failed=()
for target in $targets; do
  corpus=$(mktemp -d)
  cp corpus/"$target"/* "$corpus"/ 2>/dev/null || true
  mkdir -p artifacts/"$target"
  echo "== fuzz $target for ${seconds}s"
  if ! "$CARGO_TARGET_DIR/$triple/release/$target" -max_total_time="$seconds" \
      -rss_limit_mb=2048 -timeout=10 -artifact_prefix=artifacts/"$target"/ \
      -print_final_stats=1 "$corpus" 2>"$corpus.log"; then
    tail -40 "$corpus.log"
    failed+=("$target")
  else
    grep -E '^stat::number_of_executed_units' "$corpus.log" || true
  fi
  rm -rf "$corpus" "$corpus.log"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz smoke: crashes in ${failed[*]} (inputs under fuzz/artifacts/)"
  exit 1
fi
echo "fuzz smoke: every target ran ${seconds}s without a crash"
