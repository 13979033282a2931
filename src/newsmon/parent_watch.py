"""Run a module as `__main__` in a process that ends when the process that started it dies.

`python -m newsmon.parent_watch PID MODULE ARGS...` runs MODULE (as `python -m MODULE ARGS...`
would) and, on a watcher thread, waits for process PID to exit: then the module gets SIGTERM,
and 5 s later the process exits regardless. Prefect's temporary API server (started by
`newsmon ingest` in ephemeral mode) is run through it, so a `kill -9` of the ingest leaves no
server behind. A thread waiting on a pidfd, not PR_SET_PDEATHSIG: that signal follows the thread
that started the child, and Prefect may start its server from a short-lived thread.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import runpy
import select
import signal
import sys
import threading
import time

_GRACE_S = 5.0  # for the module to shut down cleanly after SIGTERM
_POLL_S = 1.0  # where pidfds are missing (not Linux >= 5.3): how often the parent is checked

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux; elsewhere a no-op).

    Only for processes whose parent is single-threaded: the signal follows the parent *thread*.
    """
    if not sys.platform.startswith("linux"):
        return
    parent = multiprocessing.parent_process()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - no libc prctl
        return
    if parent is not None and not parent.is_alive():  # died before prctl took effect
        sys.exit(1)


def wait_for_exit(pid: int) -> None:
    """Block until process `pid` has exited."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        while os.getppid() == pid:
            time.sleep(_POLL_S)
        return
    try:
        select.select([fd], [], [])
    finally:
        os.close(fd)


def exit_when_gone(pid: int) -> None:
    """End this process as soon as process `pid` has exited (a daemon thread waits for it).

    For pool workers forked from multiprocessing's forkserver: the forkserver lives as long as
    any of its children holds its "alive" pipe, and a ProcessPoolExecutor worker holds both ends
    of its call queue, so neither sees the run die by itself.
    """

    def watch() -> None:
        wait_for_exit(pid)
        os._exit(1)

    threading.Thread(target=watch, name="exit-when-gone", daemon=True).start()


def _watch(pid: int) -> None:
    wait_for_exit(pid)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(_GRACE_S)
    os._exit(1)


def main(argv: list[str]) -> None:
    parent, module, *rest = argv
    if os.getppid() != int(parent):  # it died before we got here
        sys.exit(1)
    threading.Thread(target=_watch, args=(int(parent),), name="parent-watch", daemon=True).start()
    sys.argv = [module, *rest]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
