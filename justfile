# provision's recipes. `just` is optional: each recipe is one command you can run without it.

# A throwaway Synapse: users registered and logged in, then shown, locked, listed, planned and applied.
demo:
    bash scripts/demo.sh

# The full test suite, as CI runs it.
test:
    bash scripts/test.sh

# provision against the real peers (about twenty minutes; `just bench --quick`: about four).
bench *ARGS:
    cargo bench --bench peers -- {{ARGS}}

# The playbook's `just register-user john secret-password yes`, through provision.
# The password goes to provision on stdin, never on a command line of ours.
register-user USERNAME $PASSWORD ADMIN *ARGS:
    #!/usr/bin/env bash
    set -euo pipefail
    case "{{ADMIN}}" in
      yes|true|1) admin=--admin ;;
      no|false|0) admin=--no-admin ;;
      *) echo "ADMIN must be yes or no, not {{ADMIN}}" >&2; exit 2 ;;
    esac
    printf '%s' "$PASSWORD" | cargo run --quiet --release -- register "{{USERNAME}}" "$admin" --password-stdin {{ARGS}}
