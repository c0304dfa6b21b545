#!/usr/bin/env bash
# Fuzz the inventory reader (YAML and the playbook's INI), the playbook's INI reader alone,
# the users file of `register --from` (CSV and YAML) and the user-ID validator for a bounded
# time each (default 60 s; `bash scripts/fuzz.sh 600` for ten minutes). Not part of the test
# suite. Crashes land in fuzz/artifacts/; copy them into fuzz/regressions/<target>/ and the
# unit tests replay them on every test run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz
# cargo fuzz wants nightly flags; this machine has only the stable toolchain, which accepts
# them when told it is bootstrapping a compiler.
export RUSTC_BOOTSTRAP=1
for target in inventory user_id users playbook_ini; do
  mkdir -p "fuzz/corpus/$target"
  cp -n fuzz/regressions/"$target"/* "fuzz/corpus/$target/" 2>/dev/null || true
  cargo fuzz run "$target" -- -max_total_time="$seconds" -max_len=4096
done
