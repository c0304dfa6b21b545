#!/usr/bin/env bash
# The demo: a throwaway Synapse on loopback, an admin and a normal user registered through
# provision, proof that both can log in, the admin's token given to the inventory so that
# provision reads and changes existing accounts (a re-run, show, lock, unlock, users), a users
# file planned and applied, then everything is stopped and removed.
# Needs only this repository, cargo and python3; Synapse is installed into a cached venv.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "Building provision"
echo "(a first build takes 3 to 4 minutes on 2 cores; cargo shows its progress)"
cargo build
# Wherever cargo puts it: CARGO_TARGET_DIR or a config may move target/.
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
provision="$target/debug/provision"

work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

step "Starting a throwaway Synapse on 127.0.0.1:$port (first run installs it, about a minute)"
coproc SYNAPSE { python3 tests/support/synapse.py run "$work/synapse" "$port" --server-name demo.local; }
synapse_out=${SYNAPSE[0]}
synapse_in=${SYNAPSE[1]}
synapse_pid=$SYNAPSE_PID
stop() {
  # Closing its stdin makes the fixture stop Synapse.
  eval "exec ${synapse_in}>&-" 2>/dev/null || true
  wait "$synapse_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap stop EXIT
read -r ready url <&"$synapse_out"
[ "$ready" = ready ] || { echo "Synapse did not start"; exit 1; }
echo "Synapse answers at $url"

step "An inventory in the shape of inventory.example.yaml"
cat > "$work/inventory.yaml" <<YAML
all:
  vars:
    backend: shared-secret
  children:
    demo:
      hosts:
        demo1:
          server_name: demo.local
          url: $url
          shared_secret: {file: synapse/shared_secret}   # relative to this inventory
YAML
cat "$work/inventory.yaml"
export PROVISION_INVENTORY="$work/inventory.yaml"

step "Register an admin, password from a file"
umask 077
printf 'alice-demo-password\n' > "$work/alice.pw"
run "$provision" register alice --admin --password-file "$work/alice.pw"

step "Register a normal user with a generated password, written to a 0600 file"
run "$provision" register bob --no-admin --random-password --password-out "$work/bob.pw"

step "Both can log in (alice's login keeps its access token, a server admin's, in a 0600 file)"
python3 tests/support/synapse.py login "$work/synapse" "$url" alice --token-out "$work/alice.token" < "$work/alice.pw"
python3 tests/support/synapse.py login "$work/synapse" "$url" bob < "$work/bob.pw"

step "Give the inventory an admin backend: Synapse's admin API, with alice's token"
cat >> "$work/inventory.yaml" <<YAML
          # Reads and changes existing accounts: the admin flag of a user that exists, and the
          # lifecycle below. Without it, --admin on an existing user cannot be checked.
          admin_backend: synapse-api
          admin_token: {file: alice.token}
YAML
cat "$work/inventory.yaml"

step "Run it again: existing users are ok, not errors, and the admin flag is checked"
run "$provision" register alice --admin --password-file "$work/alice.pw" --output json

step "The rest of an account's life: show it, lock it (bob can no longer log in), unlock it"
run "$provision" show bob
run "$provision" lock bob
if python3 tests/support/synapse.py login "$work/synapse" "$url" bob < "$work/bob.pw" 2>/dev/null; then
  echo "bob logged in while locked"; exit 1
fi
echo "bob is locked out, as expected"
run "$provision" unlock bob
python3 tests/support/synapse.py login "$work/synapse" "$url" bob < "$work/bob.pw"

step "Every user of the fleet, as CSV"
run "$provision" users --output csv

step "Users as a file: the plan (exit status 3: changes pending), then apply it"
cat > "$work/users.yaml" <<YAML
users:
  - user: alice
    admin: true      # so already: nothing to do
  - user: bob
    state: locked    # exists: to be locked
  - user: carol      # absent: created, with a generated password
  - user: dave
    admin: true      # absent: created as an admin
YAML
cat "$work/users.yaml"
run "$provision" plan "$work/users.yaml" || [ $? -eq 3 ]
run "$provision" apply "$work/users.yaml" --yes --passwords-out "$work/passwords.csv"

step "Applied: the plan is now in sync (exit status 0), and carol logs in with her generated password"
run "$provision" plan "$work/users.yaml"
# The password goes from provision's 0600 file to the login on a pipe, never on a command line.
grep '^carol,' "$work/passwords.csv" | cut -d, -f2- \
  | python3 tests/support/synapse.py login "$work/synapse" "$url" carol

step "Done: stopping Synapse and removing $work"
