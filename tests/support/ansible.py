#!/usr/bin/env python3
"""ansible-core from PyPI in a cached venv, for the Ansible-module test.

    ansible.py venv                 install it once; print the venv's bin folder
    ansible.py sanity COLLECTION    ansible-test sanity's validate-modules on a collection folder
"""

import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile

CACHE = os.environ.get("PROVISION_CACHE") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "provision")
VENV = os.path.join(CACHE, "ansible-core")


# ansible-test bootstraps pip into each of its venvs with a get-pip script it downloads from
# Ansible's CI file host, which this network cannot reach; it runs a copy it finds in
# ~/.ansible/test/cache instead (ansible_test/_util/target/setup/requirements.py, bootstrap).
# This stand-in does the same from Python's own ensurepip and pip from PyPI. get-pip's
# --no-setuptools and --no-wheel mean "install only what is named", which pip install does.
GET_PIP = """import subprocess, sys
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.run([sys.executable, "-m", "ensurepip", "--default-pip"], check=True,
               stdout=subprocess.DEVNULL)
sys.exit(subprocess.run([sys.executable, "-m", "pip", "install"] + args).returncode)
"""


def sanity(collection):
    """Runs validate-modules on a copy of COLLECTION laid out as ansible-test needs it
    (ansible_collections/NAMESPACE/NAME), in a HOME of our own so that ansible-test's venvs and
    the stand-in stay in the cache. Exits with ansible-test's code."""
    bin_dir = venv()
    meta = open(os.path.join(collection, "galaxy.yml")).read()
    namespace = re.search(r"^namespace: *(\S+)", meta, re.M).group(1)
    name = re.search(r"^name: *(\S+)", meta, re.M).group(1)
    home = os.path.join(CACHE, "ansible-test-home")
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "ansible_collections", namespace, name)
        shutil.copytree(collection, root)
        core = subprocess.run([os.path.join(bin_dir, "python"), "-c",
                               "import ansible.release as r; print(r.__version__)"],
                              check=True, capture_output=True, text=True).stdout
        major_minor = ".".join(core.split(".")[:2])
        ignores = os.path.join(root, "tests", "sanity")
        kept = sorted(f for f in os.listdir(ignores) if f.startswith("ignore-"))
        if kept and f"ignore-{major_minor}.txt" not in kept:
            # ansible-test reads only its own version's ignore file; the entries (the licence
            # header validate-modules asks of GPL code) hold for any version.
            shutil.copy(os.path.join(ignores, kept[-1]),
                        os.path.join(ignores, f"ignore-{major_minor}.txt"))
        env = dict(os.environ, HOME=home, PATH=bin_dir + os.pathsep + os.environ["PATH"])
        python = f"{sys.version_info[0]}.{sys.version_info[1]}"
        cmd = [os.path.join(bin_dir, "ansible-test"), "sanity", "--test", "validate-modules",
               "--python", python, "--color", "no"]
        for _ in range(2):
            run = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
            out = run.stdout + run.stderr
            wanted = re.search(r"manually downloaded and saved to: (\S+)", out)
            if not wanted:
                break
            os.makedirs(os.path.dirname(wanted.group(1)), exist_ok=True)
            with open(wanted.group(1), "w") as f:
                f.write(GET_PIP)
        sys.stdout.write(out)
        sys.exit(run.returncode)


def venv():
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
    return os.path.join(VENV, "bin")


def main():
    if sys.argv[1:] == ["venv"]:
        print(venv())
    elif len(sys.argv) == 3 and sys.argv[1] == "sanity":
        sanity(sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
