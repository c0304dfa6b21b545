#!/usr/bin/env python3
"""A throwaway PostgreSQL on loopback, for provision's tests (Debian's server binaries).

    postgres.py run DIR PORT [--tls CERT KEY]
                                initdb (as the `postgres` user), start the server on
                                127.0.0.1:PORT, create role `synapse` (password in
                                DIR/password) and database `synapse` with C collation as
                                Synapse requires; print "ready DSN"; stop when the
                                tests end (stdin closes or the parent goes: lifetime.py).
                                With --tls, the server also offers TLS with that
                                certificate (PEM) and key, and logs each connection
                                (DIR/postgres.log says whether it used TLS).

The cluster and its Unix socket live in a folder of their own under /tmp (named in
DIR/socket_dir), owned by `postgres`: DIR may sit where that user cannot reach (a 0700 clone).
"""

import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import lifetime

def pg_bin(name):
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))[::-1]), None)
    if not found:
        sys.exit(f"postgres.py: no {name}; install postgresql (scripts/test.sh does)")
    return found


def as_postgres(argv, **kw):
    """initdb and postgres refuse to run as root."""
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--"] + argv
    return subprocess.run(argv, check=True, **kw)


def as_postgres_user(then):
    """A `preexec_fn` becoming the `postgres` user when run as root (the server refuses root),
    then running `then`, which must come after the change of user."""
    def preexec():
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            os.setgroups([])
            os.setgid(pg.pw_gid)
            os.setuid(pg.pw_uid)
            os.environ["HOME"] = pg.pw_dir
        then()
    return preexec


def main():
    tls = sys.argv[4:7] if len(sys.argv) == 7 and sys.argv[4] == "--tls" else None
    if len(sys.argv) not in (4, 7) or sys.argv[1] != "run" or (len(sys.argv) == 7 and not tls):
        sys.exit(__doc__)
    top, port = os.path.abspath(sys.argv[2]), int(sys.argv[3])
    os.makedirs(top, exist_ok=True)
    d = tempfile.mkdtemp(prefix="provision-pg-")
    data = os.path.join(d, "data")
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")
        os.chown(d, pg.pw_uid, pg.pw_gid)
    with open(os.path.join(top, "socket_dir"), "w") as f:
        f.write(d + "\n")
    password = secrets.token_urlsafe(16)
    with open(os.path.join(top, "password"), "w") as f:
        f.write(password + "\n")
    if not os.path.exists(os.path.join(data, "PG_VERSION")):
        as_postgres([pg_bin("initdb"), "-D", data, "-U", "postgres", "--auth=trust",
                     "--encoding=UTF8", "--locale=C"], stdout=subprocess.DEVNULL)
        with open(os.path.join(data, "pg_hba.conf"), "w") as f:
            f.write("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
    settings = []
    if tls:
        # The server refuses a key that others may read, unless root owns it ("private key
        # file ... has group or world access", src/backend/libpq/be-secure-common.c): copies
        # owned by `postgres`, mode 0600, beside the cluster.
        for name, src in (("server.crt", tls[1]), ("server.key", tls[2])):
            dst = os.path.join(d, name)
            shutil.copyfile(src, dst)
            os.chmod(dst, 0o600)
            if os.geteuid() == 0:
                os.chown(dst, pg.pw_uid, pg.pw_gid)
        settings += ["-c", "ssl=on", "-c", f"ssl_cert_file={d}/server.crt",
                     "-c", f"ssl_key_file={d}/server.key", "-c", "log_connections=on"]
    # The postmaster is our child itself, not runuser's: runuser does not pass SIGINT on, so
    # the fast shutdown below never reached the server, and killing runuser after the wait
    # left the postmaster running for good. Should this helper die first, the kernel sends
    # the postmaster SIGINT (fast shutdown) in its place.
    server = subprocess.Popen(
        [pg_bin("postgres"), "-D", data, "-p", str(port), "-c", "listen_addresses=127.0.0.1",
         "-c", f"unix_socket_directories={d}", "-c", "fsync=off"] + settings,
        stdout=open(os.path.join(top, "postgres.log"), "ab"), stderr=subprocess.STDOUT,
        preexec_fn=as_postgres_user(lifetime.die_with_parent(signal.SIGINT)))

    def stop(*_):
        if server.poll() is None:
            server.send_signal(signal.SIGINT)  # fast shutdown
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(d, ignore_errors=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    psql = [pg_bin("psql"), "-h", d, "-p", str(port), "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-q"]
    deadline = time.time() + 30
    while subprocess.run(psql + ["-c", "select 1"], capture_output=True).returncode:
        if server.poll() is not None or time.time() > deadline:
            print(f"postgres.py: the server did not start; see {top}/postgres.log", file=sys.stderr)
            stop()
        time.sleep(0.2)
    sql = (f"DROP DATABASE IF EXISTS synapse; DROP ROLE IF EXISTS synapse;"
           f"CREATE ROLE synapse LOGIN PASSWORD '{password}';")
    subprocess.run(psql, input=sql.encode(), check=True, capture_output=True)
    subprocess.run(psql + ["-c", "CREATE DATABASE synapse OWNER synapse ENCODING 'UTF8' "
                           "LC_COLLATE='C' LC_CTYPE='C' TEMPLATE template0"], check=True, capture_output=True)
    print(f"ready postgresql://synapse:{password}@127.0.0.1:{port}/synapse", flush=True)
    try:
        lifetime.until_the_tests_end()
    finally:
        stop()


if __name__ == "__main__":
    main()
