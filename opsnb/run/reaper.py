"""Nothing of a batch outlives it: the batch marker, killing marked processes, and the reaper.

See "Crash safety" in :mod:`opsnb.run.batch`: every worker (and so every kernel) carries
``$OPSNB_BATCH_ID``; :class:`Reaper` starts the process running :func:`reap`, which kills the
batch's leftovers when the parent ends, even by ``kill -9``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable

__all__ = ["BATCH_ID_ENV", "marked_processes", "kill_marked", "reap", "Reaper"]

BATCH_ID_ENV = "OPSNB_BATCH_ID"
"""Marker every worker of a batch (and so every kernel it starts) carries in its environment."""


def marked_processes(batch_id: str) -> list:
    """Live processes (psutil) whose environment carries ``OPSNB_BATCH_ID=batch_id``."""
    import psutil

    me, out = os.getpid(), []
    for p in psutil.process_iter():
        if p.pid == me:
            continue
        try:
            if p.environ().get(BATCH_ID_ENV) == batch_id:
                out.append(p)
        except (psutil.Error, OSError):
            continue
    return out


def kill_marked(batch_id: str, *, keep: Iterable[int] = ()) -> int:
    """Kill the processes of batch ``batch_id`` (workers, kernels) except ``keep``; return
    how many were killed."""
    import psutil

    keep = set(keep)
    procs = [p for p in marked_processes(batch_id) if p.pid not in keep]
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=5)
    return len(procs)


_REAPER = """
import sys
from opsnb.run.reaper import reap
reap(sys.argv[1], int(sys.argv[2]))
"""


def reap(batch_id: str, parent_pid: int, *, every: float = 0.5) -> int:
    """The reaper's loop (run in its own process by the batch parent; see "Crash safety").

    Until its stdin closes it notes, every ``every`` seconds, the parent's descendants that
    started after it (pool workers, kernels). A parent that ends the batch normally writes
    ``done`` before closing the pipe: then only marked stragglers are killed. A pipe closed
    without it means the parent died: its noted descendants and every process carrying the
    batch marker are killed. Returns how many processes it killed.
    """
    import sys

    import psutil

    me = psutil.Process()
    since = me.create_time() - 1.0
    done = threading.Event()
    said: list[bytes] = []

    def wait_eof() -> None:
        said.append(sys.stdin.buffer.read())
        done.set()

    threading.Thread(target=wait_eof, daemon=True).start()
    seen: dict[int, psutil.Process] = {}
    try:
        parent = psutil.Process(parent_pid)
    except psutil.Error:
        parent = None
    while parent is not None and not done.wait(every):
        try:
            children = parent.children(recursive=True)
        except psutil.Error:  # the parent has gone
            break
        for p in children:
            try:
                if p.pid != me.pid and p.create_time() >= since:
                    seen.setdefault(p.pid, p)
            except psutil.Error:  # a kernel that just ended
                continue
    done.wait()
    procs = [] if said == [b"done"] else list(seen.values())
    killed = 0
    for p in procs:
        try:
            p.kill()  # psutil refuses if the pid was reused by another process meanwhile
            killed += 1
        except psutil.Error:
            pass
    return killed + kill_marked(batch_id)


class Reaper:
    """A process that outlives the batch parent and kills the batch's leftovers when it ends."""

    def __init__(self, batch_id: str):
        import subprocess
        import sys

        env = {k: v for k, v in os.environ.items() if k != BATCH_ID_ENV}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _REAPER, batch_id, str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # a Ctrl-C or a killed process group does not take it along
        )

    def close(self) -> None:
        try:
            self.proc.stdin.write(b"done")
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except Exception:  # noqa: BLE001 - it is only the clean-up helper
            self.proc.kill()
