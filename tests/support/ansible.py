#!/usr/bin/env python3
"""ansible-core from PyPI in a cached venv, for the Ansible-module test.

    ansible.py venv    install it once; print the venv's bin folder
"""

import fcntl
import os
import subprocess
import sys

CACHE = os.environ.get("PROVISION_CACHE") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "provision")
VENV = os.path.join(CACHE, "ansible-core")


def main():
    if sys.argv[1:] != ["venv"]:
        sys.exit(__doc__)
    os.makedirs(CACHE, exist_ok=True)
    marker = os.path.join(VENV, ".installed")
    with open(os.path.join(CACHE, ".ansible.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(marker):
            print(f"[ansible.py] installing ansible-core into {VENV} (once)", file=sys.stderr)
            subprocess.run([sys.executable, "-m", "venv", "--clear", VENV], check=True)
            subprocess.run([os.path.join(VENV, "bin", "pip"), "install", "-q",
                            "--disable-pip-version-check", "ansible-core"], check=True,
                           stdout=sys.stderr)
            open(marker, "w").close()
    print(os.path.join(VENV, "bin"))


if __name__ == "__main__":
    main()
