"""How the helper scripts' servers end with the test process that started them, however it
ends: normally, after a failing test, on Ctrl-C, or killed.

The Rust fixtures are statics, never dropped: nothing in the test process stops a helper.
What a helper can see is its stdin (the fixture holds the other end of the pipe; the kernel
closes it when the test process exits) and its parent (which changes when the test process is
gone). `until_the_tests_end` waits for either. The servers a helper starts get a parent-death
signal (prctl(2) PR_SET_PDEATHSIG), so they stop even if the helper itself is killed before it
can stop them, and the helper stops whatever they started in turn (`descendants`).
"""

import ctypes
import os
import select
import signal
import sys
import time

PR_SET_PDEATHSIG = 1


def die_with_parent(sig=signal.SIGTERM):
    """A `preexec_fn` for Popen: the child gets `sig` when this helper dies. Set after any
    change of user (the kernel clears it when credentials change), and only from the helper's
    main thread (the signal follows the thread that forked, not the process)."""
    helper = os.getpid()

    def preexec():
        if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0):
            os._exit(126)
        if os.getppid() != helper:  # the helper died before the signal was armed
            os._exit(126)
    return preexec


def until_the_tests_end():
    """Returns once the test process is gone: EOF on stdin, or a new parent (if something else
    held the pipe's other end open)."""
    parent = os.getppid()
    fd = sys.stdin.fileno()
    while os.getppid() == parent:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready and not os.read(fd, 65536):
            return


def descendants(pid):
    """Every process below `pid` (children, theirs…), from /proc: what a server forked and
    will not stop by itself (sshd's per-connection processes outlive the listener)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                # The command may contain spaces and parentheses: the ppid follows the last ')'.
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def terminate(pids, grace=10):
    """SIGTERM, then SIGKILL what is still there after `grace` seconds."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.time() + grace
    while time.time() < deadline:
        alive = [p for p in pids if _alive(p)]
        if not alive:
            return
        time.sleep(0.1)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
