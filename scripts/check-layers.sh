#!/usr/bin/env bash
# The seam, held: transports (src/transport/) import only the ports of the backends crate
# (backends/src/port/), never its Matrix code; the ports themselves import nothing of the
# backends around them; and no file outside the registry names a backend's type.
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
if grep -rnE 'provision_backends::' src/transport | grep -vE 'provision_backends::port(::|;)'; then
  echo "check-layers: the transports above use more of provision_backends than its ports" >&2
  fail=1
fi
if grep -rnE 'crate::' backends/src/port | grep -vE 'crate::port(::|;)'; then
  echo "check-layers: the ports above import backend code" >&2
  fail=1
fi
backends='SharedSecret|SynapseCli|DendriteCli|MasCli|PlaybookWrapper|AdminSql|SynapseAdminApi|MasAdminApi'
if grep -rnwE "$backends" src | grep -v '^src/registry.rs:'; then
  echo "check-layers: only src/registry.rs names backends" >&2
  fail=1
fi
exit "$fail"
