"""Run a module as `__main__` in a process that ends when the process that started it dies.

`python -m newsmon.parent_watch PID MODULE ARGS...` runs MODULE (as `python -m MODULE ARGS...`
would) and, on a watcher thread, waits for process PID to exit: then the module gets SIGTERM,
and 5 s later the process exits regardless. Prefect's temporary API server (started by
`newsmon ingest` in ephemeral mode) is run through it, so a `kill -9` of the ingest leaves no
server behind. A thread waiting on a pidfd, not PR_SET_PDEATHSIG: that signal follows the thread
that started the child, and Prefect may start its server from a short-lived thread.
"""

from __future__ import annotations

import os
import runpy
import select
import signal
import sys
import threading
import time

_GRACE_S = 5.0  # for the module to shut down cleanly after SIGTERM
_POLL_S = 1.0  # where pidfds are missing (not Linux >= 5.3): how often the parent is checked


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
