#!/usr/bin/env bash
# After `cargo test`: every server the test fixtures started (tests/support/*.py) has stopped,
# whether the tests passed or not. Fails naming what remains. Only this checkout's fixtures
# are looked for (by their folder under the target dir, the PostgreSQL socket folder they
# recorded there, and the label of the Docker container), so test runs of other checkouts on
# the same machine do not count.
set -euo pipefail
cd "$(dirname "$0")/.."

target=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
scratch="$target/tmp/provision-tests"

leftovers() {
  # Helpers, Synapse, sshd listeners, `docker run`, the ssh masters provision left (their
  # command lines name the fixture's key): all name the scratch folder.
  pgrep -af -- "$scratch" | grep -v -e pgrep -e check-leftovers || true
  # The PostgreSQL cluster lives under /tmp (provision-pg-*), named in DIR/socket_dir.
  for f in "$scratch"/*/socket_dir; do
    [ -f "$f" ] || continue
    pgrep -af -- "$(cat "$f")" || true
  done
  if command -v docker >/dev/null 2>&1; then
    docker ps -a --filter "label=provision-tests" --format '{{.ID}} {{.Names}} {{.Label "provision-tests"}}' \
      | grep -F -- " $scratch/" | sed 's/^/container /' || true
  fi
}

# The helpers stop their servers once the test process is gone; give them the time they take
# (PostgreSQL's fast shutdown, Synapse's, `docker rm`).
for _ in $(seq 60); do
  [ -z "$(leftovers)" ] && exit 0
  sleep 0.5
done
echo "error: the test fixtures left these running:" >&2
leftovers >&2
exit 1
