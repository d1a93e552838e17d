"""Serve a live notebook (the 02b what-if sliders) with Voila, and stop it without leftovers.

``opsnb whatif`` calls :func:`serve_live`:

* :func:`prepare_live_notebook` writes the parameterized copy Voila serves into a fresh
  temporary folder, without the notebook's markdown cells: the page opens on the panel (its
  one-line explanation, then the sliders), not on notes about how the notebook is built;
* :func:`voila_command` starts Voila with its connection files, runtime files and temporary
  files inside that folder;
* Voila runs in its own process group and every process it starts (the kernels start their
  own sessions) carries :data:`LIVE_ID_ENV` in its environment. SIGTERM or Ctrl-C (SIGINT) on
  the launcher asks Voila to stop (it shuts its kernels down), then kills whatever is left
  (:func:`stop_live`) and removes the temporary folder.

Examples
--------
>>> from opsnb.run.live import serve_live                       # doctest: +SKIP
>>> serve_live(find_notebook("02b_whatif_live"), {"goal": 0.3}, port=8866)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = [
    "LIVE_ID_ENV",
    "prepare_live_notebook",
    "voila_command",
    "live_processes",
    "stop_live",
    "serve_live",
]

LIVE_ID_ENV = "OPSNB_LIVE_ID"
"""Marker in the environment of Voila and of every kernel it starts (one id per launch)."""
_GRACE_S = 5.0
"""Seconds Voila gets to shut its kernels down after SIGTERM before everything is killed."""


def prepare_live_notebook(nb_path: str | Path, values: Mapping, folder: str | Path) -> Path:
    """Write the notebook Voila serves into ``folder``: ``values`` injected as papermill does,
    markdown cells dropped (the panel's own text explains it); returns its path."""
    import nbformat
    from papermill.parameterize import parameterize_notebook

    nb_path = Path(nb_path)
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells = [c for c in nb.cells if c.cell_type == "code"]
    for cell in nb.cells:  # papermill expects every cell to have a tags list
        cell.metadata.setdefault("tags", [])
    nb.metadata.setdefault("papermill", {})
    if values:
        nb = parameterize_notebook(nb, dict(values))
    out = Path(folder) / nb_path.name
    nbformat.write(nb, out)
    return out


def voila_command(
    notebook: str | Path, folder: str | Path, *, port: int, ip: str, open_browser: bool = False
) -> list[str]:
    """The Voila command line serving ``notebook`` on ``ip:port``, its connection files in
    ``folder`` and no retry on another port (the printed address must be the real one)."""
    cmd = [
        sys.executable,
        "-m",
        "voila",
        str(notebook),
        f"--port={port}",
        f"--Voila.ip={ip}",
        f"--Voila.connection_dir_root={folder}",
        "--Voila.port_retries=0",
    ]
    if not open_browser:
        cmd.append("--no-browser")
    return cmd


def live_processes(live_id: str, root: int | None = None) -> list:
    """Running processes (psutil) of one launch: ``root`` and its descendants, and every
    process whose environment carries ``LIVE_ID_ENV=live_id`` (kernels that lost their
    parent included)."""
    import psutil

    found: dict[int, psutil.Process] = {}
    if root is not None:
        try:
            r = psutil.Process(root)
            found[r.pid] = r
            found.update({p.pid: p for p in r.children(recursive=True)})
        except psutil.Error:
            pass
    me = os.getpid()
    for p in psutil.process_iter():
        if p.pid == me or p.pid in found:
            continue
        try:
            if p.environ().get(LIVE_ID_ENV) == live_id:
                found[p.pid] = p
        except (psutil.Error, OSError):
            continue
    return [p for p in found.values() if _alive(p)]


def _alive(p) -> bool:
    import psutil

    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def stop_live(proc: subprocess.Popen, live_id: str, *, grace: float = _GRACE_S) -> None:
    """Stop Voila (``proc``) and everything it started: SIGTERM to Voila (it shuts its kernels
    down and removes its connection folder), up to ``grace`` seconds, then SIGKILL to every
    process of the launch still running and to Voila's process group."""
    import psutil

    procs = live_processes(live_id, proc.pid)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    procs = {p.pid: p for p in procs} | {p.pid: p for p in live_processes(live_id)}
    _, alive = psutil.wait_procs(list(procs.values()), timeout=1.0 if procs else 0)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    psutil.wait_procs(alive, timeout=3)
    if proc.poll() is None:
        proc.wait(timeout=3)


class _Stop(Exception):
    """SIGTERM on the launcher."""


def serve_live(
    nb_path: str | Path,
    values: Mapping,
    *,
    port: int = 8866,
    ip: str = "127.0.0.1",
    open_browser: bool = False,
    dry_run: bool = False,
    echo: Callable[[str], None] = print,
) -> int:
    """Serve ``nb_path`` with ``values`` on ``ip:port`` until Voila ends, SIGTERM or Ctrl-C;
    then stop Voila and its kernels (:func:`stop_live`) and remove the temporary folder.
    Returns Voila's exit code (0 when stopped by a signal). ``dry_run`` prepares the folder
    and prints the command (the folder is then kept for it)."""
    folder = Path(tempfile.mkdtemp(prefix="opsnb-whatif-"))
    live_id = uuid.uuid4().hex
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    keep = False
    try:
        nb = prepare_live_notebook(nb_path, values, folder)
        cmd = voila_command(nb, folder, port=port, ip=ip, open_browser=open_browser)
        echo(
            f"what-if app: http://{ip}:{port}/  (parameters: {dict(values) or 'notebook defaults'})"
        )
        if dry_run:  # the printed command must stay runnable: the folder is kept
            echo(" ".join(cmd))
            echo(f"(served copy kept in {folder}; remove it when done)")
            keep = True
            return 0
        echo("press Ctrl-C to stop")
        runtime = folder / "runtime"
        runtime.mkdir()
        env = {
            **os.environ,
            LIVE_ID_ENV: live_id,
            "JUPYTER_RUNTIME_DIR": str(runtime),
            "TMPDIR": str(folder),
        }

        def on_term(signum, frame):
            raise _Stop

        # Ctrl-C is handled explicitly, not by Python's default handler: a launcher started
        # from a script's background job (``cmd &`` without job control, as cron wrappers and
        # CI runners do) inherits SIGINT ignored, and then Ctrl-C / ``kill -INT`` left Voila up
        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_term)
        proc = subprocess.Popen(cmd, env=env, start_new_session=True)
        try:
            return proc.wait()
        except (KeyboardInterrupt, _Stop):
            return 0
        finally:
            for s in previous:  # a second signal cannot cut the clean-up short
                signal.signal(s, signal.SIG_IGN)
            stop_live(proc, live_id)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
