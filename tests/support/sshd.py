#!/usr/bin/env python3
"""Several real OpenSSH servers on loopback addresses, for provision's tests and benchmarks.

    sshd.py run [--log-level LEVEL] [--no-sudo-users] DIR PORT ADDRESS...
                                      start one sshd per address (127.0.0.x), all on PORT,
                                      print "ready" once each accepts connections, stop them
                                      when stdin closes (or on SIGTERM/SIGINT); LEVEL is
                                      sshd's LogLevel (VERBOSE; DEBUG1 logs forwarded
                                      connections, "server_request_direct_tcpip");
                                      --no-sudo-users leaves the users below to another
                                      fleet (their password is new each run)

DIR ends up holding id_ed25519 (the client key, authorized for every user on every host),
known_hosts (every host's key, as [ADDRESS]:PORT), and per host ADDRESS.log (sshd's
VERBOSE log: one "Accepted publickey" line per connection).

It also makes sure a non-root user SUDO_USER exists whose sudo asks for a password, written
to DIR/sudo_password (new each run), and a user NOPASSWD_USER whose sudo asks for none, for
the tests of `become`.
"""

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time

import lifetime
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
SUDO_USER = "provision-test"
NOPASSWD_USER = "provision-nopw"


def keygen(path):
    if not os.path.exists(path):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path], check=True)


def sudo_user(d):
    """A user that must give sudo its password: what `become_password` is for."""
    if subprocess.run(["id", SUDO_USER], capture_output=True).returncode:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", SUDO_USER], check=True)
    password = secrets.token_urlsafe(16)
    subprocess.run(["chpasswd"], input=f"{SUDO_USER}:{password}\n".encode(), check=True)
    with open(f"/etc/sudoers.d/{SUDO_USER}", "w") as f:
        f.write(f"{SUDO_USER} ALL=(ALL) ALL\nDefaults:{SUDO_USER} !lecture\n")
    os.chmod(f"/etc/sudoers.d/{SUDO_USER}", 0o440)
    path = os.path.join(d, "sudo_password")
    with open(path, "w") as f:
        f.write(password + "\n")
    os.chmod(path, 0o600)
    authorize(d, SUDO_USER)


def nopasswd_user(d):
    """A user whose sudo never asks (NOPASSWD): a become_password given anyway must not reach
    the tool."""
    if subprocess.run(["id", NOPASSWD_USER], capture_output=True).returncode:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", NOPASSWD_USER], check=True)
    # No password, but not locked ("!"): sshd refuses a key login to a locked account.
    subprocess.run(["usermod", "-p", "*", NOPASSWD_USER], check=True)
    with open(f"/etc/sudoers.d/{NOPASSWD_USER}", "w") as f:
        f.write(f"{NOPASSWD_USER} ALL=(ALL) NOPASSWD: ALL\nDefaults:{NOPASSWD_USER} !lecture\n")
    os.chmod(f"/etc/sudoers.d/{NOPASSWD_USER}", 0o440)
    authorize(d, NOPASSWD_USER)


def authorize(d, user):
    # sshd reads keys as the user, who may not be able to reach DIR (under a 0700 mktemp).
    ssh_dir = os.path.expanduser(f"~{user}/.ssh")
    os.makedirs(ssh_dir, exist_ok=True)
    shutil.copy(os.path.join(d, "id_ed25519.pub"), os.path.join(ssh_dir, "authorized_keys"))
    subprocess.run(["chown", "-R", f"{user}:", ssh_dir], check=True)


def main():
    args = sys.argv[2:]
    log_level, users = "VERBOSE", True
    while args[:1] and args[0].startswith("--"):
        if args[0] == "--log-level":
            log_level, args = args[1], args[2:]
        elif args[0] == "--no-sudo-users":
            users, args = False, args[1:]
        else:
            sys.exit(__doc__)
    if len(args) < 3 or sys.argv[1] != "run":
        sys.exit(__doc__)
    d, port, addresses = os.path.abspath(args[0]), int(args[1]), args[2:]
    if not os.path.exists(SSHD):
        sys.exit("sshd.py: no sshd; install openssh-server (scripts/test.sh does)")
    os.makedirs(d, exist_ok=True)
    os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation directory
    keygen(os.path.join(d, "id_ed25519"))
    shutil.copy(os.path.join(d, "id_ed25519.pub"), os.path.join(d, "authorized_keys"))
    if shutil.which("sudo") and users:
        sudo_user(d)
        nopasswd_user(d)
    known = []
    procs = []
    for addr in addresses:
        host_key = os.path.join(d, f"host-{addr}")
        keygen(host_key)
        with open(host_key + ".pub") as f:
            known.append(f"[{addr}]:{port} {' '.join(f.read().split()[:2])}")
        config = os.path.join(d, f"sshd-{addr}.conf")
        with open(config, "w") as f:
            f.write(f"""ListenAddress {addr}:{port}
HostKey {host_key}
PidFile {d}/sshd-{addr}.pid
AuthorizedKeysFile {d}/authorized_keys .ssh/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
LogLevel {log_level}
MaxSessions 200
MaxStartups 200:30:400
# The test hosts are this machine's own accounts: bash sources root's ~/.bashrc for every
# command sshd runs, and a pyenv there (`pyenv init`) takes a lock to rehash; a session
# killed by a fault test mid-rehash leaves the lock behind, and every later session would
# wait 60 s for it. One try is enough here (pyenv-rehash reads PYENV_REHASH_TIMEOUT).
SetEnv PYENV_REHASH_TIMEOUT=0
""")
        procs.append(subprocess.Popen([SSHD, "-D", "-f", config, "-E", os.path.join(d, f"{addr}.log")],
                                      preexec_fn=lifetime.die_with_parent()))
    with open(os.path.join(d, "known_hosts"), "w") as f:
        f.write("\n".join(known) + "\n")

    def stop(*_):
        # sshd's per-connection processes outlive the listener (each in a session of its own),
        # and with them the clients' ControlPersist masters: end them too.
        pids = [p.pid for p in procs if p.poll() is None]
        for p in procs:
            pids += lifetime.descendants(p.pid)
        lifetime.terminate(pids)
        for p in procs:
            p.wait()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    deadline = time.time() + 30
    for addr in addresses:
        while True:
            try:
                socket.create_connection((addr, port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or any(p.poll() is not None for p in procs):
                    print(f"sshd.py: sshd on {addr}:{port} did not start; see {d}/{addr}.log",
                          file=sys.stderr)
                    stop()
                time.sleep(0.1)
    print("ready", flush=True)
    try:
        lifetime.until_the_tests_end()
    finally:
        stop()


if __name__ == "__main__":
    main()
