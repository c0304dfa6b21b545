#!/usr/bin/env python3
"""A throwaway Synapse on loopback, for provision's tests, demo and benchmarks.

    synapse.py venv                      install Synapse into a cached venv; print its python
    synapse.py run DIR PORT [options]    configure DIR, start Synapse on 127.0.0.1:PORT, print
                                         "ready URL" once it answers, stop it when the tests end
                                         (or on SIGTERM/SIGINT); with --docker NAME Synapse
                                         runs in a container of that name (see docker_argv)
    synapse.py login DIR URL USER        log in with the password read from stdin; print
                                         "@USER:SERVER: login ok, admin=BOOL" (the admin flag as
                                         Synapse's admin API reports it) or exit 1; with
                                         --token-out PATH, keep the login's access token there
                                         (a new file, 0600)

DIR ends up holding homeserver.yaml, shared_secret (the registration shared secret) and
admin_token (an access token of the fixture's own admin, made with Synapse's real
register_new_matrix_user). The venv lives in $PROVISION_CACHE (default ~/.cache/provision).
"""

import argparse
import fcntl
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import lifetime

SYNAPSE_VERSION = os.environ.get("SYNAPSE_VERSION", "1.163.2")
CACHE = os.environ.get("PROVISION_CACHE") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "provision")
VENV = os.path.join(CACHE, f"synapse-{SYNAPSE_VERSION}")
PYTHON = os.path.join(VENV, "bin", "python")
FIXTURE_ADMIN = "fixture-admin"


def log(msg):
    print(f"[synapse.py] {msg}", file=sys.stderr, flush=True)


def ensure_venv():
    """Installs Synapse once; a lock keeps parallel test binaries from racing."""
    os.makedirs(CACHE, exist_ok=True)
    marker = os.path.join(VENV, ".installed")
    with open(os.path.join(CACHE, ".synapse.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(marker):
            log(f"installing matrix-synapse=={SYNAPSE_VERSION} into {VENV} (once)")
            subprocess.run([sys.executable, "-m", "venv", "--clear", VENV], check=True)
            subprocess.run([PYTHON, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                            f"matrix-synapse[postgres]=={SYNAPSE_VERSION}"], check=True,
                           stdout=sys.stderr)
            open(marker, "w").close()
    return PYTHON


def http(method, url, body=None, token=None):
    req = urllib.request.Request(url, method=method)
    if body is not None:
        req.data = json.dumps(body).encode()
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def configure(args):
    import yaml  # from the venv

    d = os.path.abspath(args.dir)
    os.makedirs(d, exist_ok=True)
    cfg_path = os.path.join(d, "homeserver.yaml")
    if not os.path.exists(cfg_path):
        subprocess.run([PYTHON, "-m", "synapse.app.homeserver", "--server-name", args.server_name,
                        "--config-path", cfg_path, "--data-directory", d, "--generate-config",
                        "--report-stats=no"], check=True, cwd=d, stdout=subprocess.DEVNULL)
    with open(cfg_path) as f:
        cfg = yaml.safe_load(f)
    cfg["listeners"] = [{
        "port": args.port, "bind_addresses": ["127.0.0.1"], "type": "http", "tls": False,
        "x_forwarded": False, "resources": [{"names": ["client"], "compress": False}],
    }]
    if args.postgres:
        from urllib.parse import urlparse
        u = urlparse(args.postgres)
        cfg["database"] = {"name": "psycopg2", "args": {
            "user": u.username, "password": u.password, "host": u.hostname, "port": u.port,
            "database": u.path.lstrip("/"), "cp_min": 1, "cp_max": 5}}
    else:
        cfg["database"] = {"name": "sqlite3", "args": {"database": os.path.join(d, "homeserver.db")}}
    # Low bcrypt rounds keep tests fast; benchmarks pass the default (12) explicitly.
    cfg["bcrypt_rounds"] = args.bcrypt_rounds
    generous = {"per_second": 1000, "burst_count": 1000}
    cfg["rc_login"] = {"address": generous, "account": generous, "failed_attempts": generous}
    cfg["rc_registration"] = generous
    cfg["rc_message"] = generous
    # No network here: no key servers, no stats, no federation.
    cfg["trusted_key_servers"] = []
    cfg["suppress_key_server_warning"] = True
    cfg["report_stats"] = False
    cfg["federation_domain_whitelist"] = []
    cfg["enable_registration"] = False
    if args.registration_tokens:
        # Open to holders of a registration token only (synapse/config/registration.py,
        # `registration_requires_token`; synapse/config/homeserver.py accepts open
        # registration with it): a server of its own, so every other test's stays closed.
        cfg["enable_registration"] = True
        cfg["registration_requires_token"] = True
    with open(cfg_path, "w") as f:
        yaml.safe_dump(cfg, f)
    secret_path = os.path.join(d, "shared_secret")
    with open(secret_path, "w") as f:
        f.write(cfg["registration_shared_secret"] + "\n")
    os.chmod(secret_path, 0o600)
    return cfg_path


def run(args):
    cfg_path = configure(args)
    d = os.path.dirname(cfg_path)
    url = f"http://127.0.0.1:{args.port}"
    argv = [PYTHON, "-m", "synapse.app.homeserver", "-c", cfg_path]
    if args.docker:
        argv = docker_argv(args.docker, d) + argv
    with open(os.path.join(d, "synapse.out"), "ab") as out:
        # `docker run` passes the signal on to Synapse in the container (--sig-proxy).
        proc = subprocess.Popen(argv, cwd=d, stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=lifetime.die_with_parent())

    def stop(*_):
        if args.docker:
            # Ours by its label: by now the name may be the next run's container.
            ours = subprocess.run(["docker", "ps", "-aq", "--filter", f"label={LABEL}={d}"],
                                  capture_output=True, text=True).stdout.split()
            if ours:
                subprocess.run(["docker", "rm", "-f", *ours], capture_output=True)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    deadline = time.time() + 120
    while True:
        if proc.poll() is not None:
            log(f"Synapse exited with {proc.returncode}; see {d}/synapse.out and {d}/homeserver.log")
            sys.exit(1)
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.time() > deadline:
            log("Synapse did not answer within 120 s")
            stop()
        time.sleep(0.2)
    make_fixture_admin(d, cfg_path, url)
    print(f"ready {url}", flush=True)
    try:
        lifetime.until_the_tests_end()
    finally:
        stop()


EMPTY_IMAGE = "provision-test-empty"
LABEL = "provision-tests"


def docker_argv(name, data_dir):
    """`docker run` for Synapse in a container. No image can be pulled here, so the image is
    empty (`docker import` of an empty tar) and the host's system folders, Python and the
    Synapse venv are bind-mounted read-only at the same paths; the data folder read-write.
    Host networking keeps the listener on the host's loopback."""
    if subprocess.run(["docker", "image", "inspect", EMPTY_IMAGE], capture_output=True).returncode:
        subprocess.run(f"tar -cf - --files-from /dev/null | docker import - {EMPTY_IMAGE}",
                       shell=True, check=True, capture_output=True)
    # A container of this name left by an earlier run that was killed before it could clean
    # up. The caller holds the fixture's lock (tests/integration/fixtures/synapse.rs), so it
    # is not another live run's. `rm -f` may return while the removal is still going on.
    subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    deadline = time.time() + 30
    while not subprocess.run(["docker", "container", "inspect", name],
                             capture_output=True).returncode:
        if time.time() > deadline:
            sys.exit(f"synapse.py: a container named {name} is still there; remove it")
        time.sleep(0.2)
    mounts = []
    for path in ["/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc", sys.base_prefix, VENV]:
        if os.path.exists(path):
            mounts += ["-v", f"{os.path.realpath(path)}:{path}:ro"]
    # As in the playbook's image: the config at /data, register_new_matrix_user on PATH
    # (`docker exec` inherits the container's environment).
    mounts += ["-v", f"{data_dir}:{data_dir}", "-v", f"{data_dir}:/data", "--tmpfs", "/tmp",
               "-e", f"PATH={VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    # The label names this run's data folder: stop() and scripts/check-leftovers.sh find our
    # container by it, not by the name another run may be using by then.
    return ["docker", "run", "--rm", "--name", name,
            "--label", f"{LABEL}={data_dir}", "--network", "host", "-w", data_dir,
            *mounts, EMPTY_IMAGE]


def make_fixture_admin(d, cfg_path, url):
    """An admin of our own, made by Synapse's real CLI, to read back what provision did."""
    token_path = os.path.join(d, "admin_token")
    password = secrets.token_urlsafe(16)
    tool = os.path.join(VENV, "bin", "register_new_matrix_user")
    r = subprocess.run([tool, "-c", cfg_path, "-u", FIXTURE_ADMIN, "--password-file", "/dev/stdin",
                        "-a", url], input=password.encode(), capture_output=True)
    if b"already" in r.stdout + r.stderr and os.path.exists(token_path):
        return
    if r.returncode != 0:
        log(f"register_new_matrix_user failed: {r.stdout!r} {r.stderr!r}")
        sys.exit(1)
    status, body = http("POST", f"{url}/_matrix/client/v3/login", {
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": FIXTURE_ADMIN},
        "password": password})
    if status != 200:
        log(f"fixture admin login failed: {status} {body}")
        sys.exit(1)
    # 0600, as an operator keeps a token (provision warns about a token others can read).
    with open(os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(body["access_token"])


def login(args):
    status, body = http("POST", f"{args.url}/_matrix/client/v3/login", {
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": args.user},
        "password": sys.stdin.read().rstrip("\n")})
    if status != 200:
        print(f"{args.user}: login FAILED ({status} {body.get('error', '')})")
        sys.exit(1)
    with open(os.path.join(args.dir, "admin_token")) as f:
        token = f.read().strip()
    status, info = http("GET", f"{args.url}/_synapse/admin/v2/users/{body['user_id']}", token=token)
    print(f"{body['user_id']}: login ok, admin={str(info.get('admin')).lower()}")
    if args.token_out:
        # The token is a credential: never printed, and written only to a file of our own.
        fd = os.open(args.token_out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(body["access_token"] + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("venv")
    r = sub.add_parser("run")
    r.add_argument("dir")
    r.add_argument("port", type=int)
    r.add_argument("--server-name", default="test.local")
    r.add_argument("--postgres", help="postgresql://user:password@host:port/db; SQLite without it")
    r.add_argument("--bcrypt-rounds", type=int, default=4)
    r.add_argument("--docker", metavar="NAME", help="run Synapse in a container of this name")
    r.add_argument("--registration-tokens", action="store_true",
                   help="open registration to holders of a registration token")
    l = sub.add_parser("login")
    l.add_argument("dir")
    l.add_argument("url")
    l.add_argument("user")
    l.add_argument("--token-out", metavar="PATH", help="write the login's access token to PATH")
    args = p.parse_args()
    if args.cmd == "venv":
        print(ensure_venv())
        return
    python = ensure_venv()
    if os.path.realpath(sys.executable) != os.path.realpath(python) and sys.prefix != VENV:
        os.execv(python, [python, __file__] + sys.argv[1:])
    {"run": run, "login": login}[args.cmd](args)


if __name__ == "__main__":
    main()
