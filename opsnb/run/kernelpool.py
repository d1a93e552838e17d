"""Warm kernels for batch runs: a fork server that has already imported the heavy libraries.

A cold kernel costs a Python start and the ipykernel/IPython imports, and then the report's
cells import numpy, pandas, matplotlib and seaborn again: about 2.5 CPU-seconds per report,
most of a light report's time. A batch worker therefore starts one *fork server* per kernel interpreter
(:func:`start_server`, from the worker's initializer): a small process, started with the kernel
spec's own interpreter and flags, that imports :data:`PRELOAD` once (with the inline matplotlib
backend selected, exactly as ipykernel selects it) and then forks one fresh kernel process per
run. :class:`WarmKernelManager` (``kernel_manager_class`` of papermill/nbclient) asks it for the
kernel instead of launching ``python -m ipykernel_launcher``; the rest of the kernel's life
(connection file, ports, curve keys, interrupt, shutdown, kill) is jupyter_client's.

- **Isolation.** Every run still gets its own kernel process, forked from a server that has
  run no notebook code, with the run's own working directory and environment
  (``$OPSNB_OUTPUT_DIR``, ``$OPSNB_TODAY``...): no variable, cell side effect, ``os.chdir`` or
  ``os.environ`` change of one run is visible in the next, and the kernel is shut down at the
  end of its run as before.
- **Crash safety.** The server dies with the process that started it (``PR_SET_PDEATHSIG``), and
  each kernel with the server; both inherit the batch marker ``$OPSNB_BATCH_ID`` (see
  :mod:`opsnb.run.batch`). Forked kernels run in their own session, like cold ones, so an
  interrupt or a kill reaches the kernel's process group.
- **Fallback.** A kernel spec that is not ``<python> [flags] -m <module> ...``, a server that
  died (killed by a run's time limit) and could not be restarted, or a platform without
  ``fork``: the kernel is launched cold, as jupyter_client does.

Examples
--------
>>> start_server("opsnb")                                              # doctest: +SKIP
>>> pm.execute_notebook(src, dst, kernel_manager_class=WarmKernelManager)  # doctest: +SKIP
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import threading
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner

__all__ = [
    "PRELOAD",
    "WARM_UP",
    "SERVER_FLAG",
    "ForkServer",
    "ForkedProcess",
    "ForkProvisioner",
    "WarmKernelManager",
    "start_server",
    "servers",
    "stop_servers",
]

PRELOAD = (
    "numpy",
    "pandas",
    "matplotlib",
    "matplotlib.pyplot",
    "seaborn",
    "scipy.special",
    "scipy.stats",
    "sqlite3",
    "tornado.ioloop",
    "IPython",
    "IPython.core.debugger",
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "ipykernel.debugger",
    # what a kernel imports lazily as it starts (found by diffing a warm kernel's sys.modules
    # with the server's): the connection file's local-interface lookup (psutil), the shell's
    # inspector, logger, completer and %store extension, tornado's asyncio loop
    "psutil",
    "faulthandler",
    "resource",
    "runpy",
    "IPython.core.oinspect",
    "IPython.core.logger",
    "IPython.core.completerlib",
    "IPython.extensions.storemagic",
    "IPython.core.pylabtools",
    "tornado.platform.asyncio",
    # what a report's first cells import: pandas' HTML/text tables (and pyarrow's pandas
    # bridge for string columns), the Agg canvas and PIL's image plugins of the inline PNGs,
    # opsnb.plots and its bundled CJK font
    "pandas.io.formats.html",
    "pandas.io.formats.string",
    "pyarrow.pandas_compat",
    "matplotlib.backends.backend_agg",
    "PIL.PngImagePlugin",
    "PIL.BmpImagePlugin",
    "PIL.GifImagePlugin",
    "PIL.JpegImagePlugin",
    "PIL.PpmImagePlugin",
    "PIL.features",
    "noto_cjk_sans_otc",
    "opsnb.plots",
)
"""Modules the fork server imports once, so that no kernel pays for them again. Only modules
whose import has no per-run state (of opsnb only :mod:`opsnb.plots`, which reads neither the
environment nor the working directory), plus what every kernel imports as it starts (the
debugger's debugpy, sqlite3 for the history); never ``matplotlib_inline.backend_inline``,
whose import hooks into the kernel's shell (it is imported by the kernel, as a cold one does)."""

WARM_UP = ("opsnb.plots:cjk_font_name",)
"""``module:function`` calls the fork server makes once after :data:`PRELOAD`: pure, cached
set-up that every report's first chart would otherwise redo in its own kernel (registering the
bundled CJK font with matplotlib parses a 19 MB font file: about 0.1 s per kernel). A failing
call is skipped: the kernel then does it itself, as a cold one does."""

SERVER_FLAG = "opsnb-kernel-fork-server"
"""Last argument of a fork server's command line (and so of its forked kernels', which share it)."""

_SERVER = r"""
import json, os, signal, sys, traceback

def _die_with_parent():
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass

_die_with_parent()
req_fd, rep_fd, owner = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
if os.getppid() != owner:  # the owner died before the death signal was armed
    os._exit(0)
if not os.environ.get("MPLBACKEND"):  # what ipykernel sets before any user import
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
for name in json.loads(sys.argv[4]):
    try:
        __import__(name)
    except Exception:
        pass
for call in json.loads(sys.argv[5]):
    try:
        mod, _, fn = call.partition(":")
        getattr(sys.modules[mod], fn)()
    except Exception:
        pass
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # ended kernels are reaped by the OS
requests = os.fdopen(req_fd, "rb")
os.write(rep_fd, b"ready\n")
for line in requests:
    r = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.setsid()  # its own process group, as jupyter_client starts kernels
            _die_with_parent()
            requests.close()
            os.close(rep_fd)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.close(null)
            if r["cwd"]:
                os.chdir(r["cwd"])
            os.environ.clear()
            os.environ.update(r["env"])
            if sys.path and sys.path[0] == "":
                sys.path[0] = os.getcwd()  # as `python -m` puts it
            sys.argv = [r["module"], *r["args"]]
            import runpy
            runpy.run_module(r["module"], run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    os.write(rep_fd, b"%d\n" % pid)
"""


def _split_cmd(cmd: list[str]) -> tuple[tuple[str, ...], str, list[str]] | None:
    """(interpreter and its flags, module, module arguments) of ``python [flags] -m mod ...``."""
    if "-m" not in cmd:
        return None
    i = cmd.index("-m")
    prefix, rest = cmd[:i], cmd[i + 1 :]
    if not prefix or not rest or any(not a.startswith("-") for a in prefix[1:]):
        return None
    if any(a in ("-c", "-") for a in prefix[1:]):
        return None
    return tuple(prefix), rest[0], list(rest[1:])


class ForkedProcess:
    """A kernel forked by a :class:`ForkServer`, with the part of ``Popen``'s interface that
    jupyter_client's provisioner uses (``pid``, ``poll``, ``wait``, ``send_signal``, ``kill``,
    ``terminate``). It is the server's child, not ours: liveness is read from ``/proc``."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int):
        import psutil

        self.pid = pid
        self.returncode: int | None = None
        try:
            self._proc = psutil.Process(pid)
        except psutil.Error:
            self._proc = None
            self.returncode = 0

    def poll(self) -> int | None:
        import psutil

        if self.returncode is not None:
            return self.returncode
        try:  # is_running() also says False when the pid now belongs to another process
            if self._proc.is_running() and self._proc.status() != psutil.STATUS_ZOMBIE:
                return None
        except psutil.Error:
            pass
        self.returncode = 0
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        import psutil

        if self.poll() is None:
            try:
                self._proc.wait(timeout)
            except psutil.TimeoutExpired:
                raise subprocess.TimeoutExpired(str(self.pid), timeout) from None
            except psutil.Error:
                pass
        self.returncode = 0 if self.returncode is None else self.returncode
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:  # it has just ended
                self.returncode = 0

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class ForkServer:
    """One fork server process (see the module docstring) for one interpreter command."""

    def __init__(
        self,
        prefix: tuple[str, ...],
        preload: tuple[str, ...] = PRELOAD,
        warm_up: tuple[str, ...] = WARM_UP,
    ):
        self.prefix = prefix
        req_r, self._req = os.pipe()
        self._rep, rep_w = os.pipe()
        env = dict(os.environ)
        self.proc = subprocess.Popen(
            [*prefix, "-c", _SERVER, str(req_r), str(rep_w), str(os.getpid())]
            + [json.dumps(list(preload)), json.dumps(list(warm_up)), SERVER_FLAG],
            pass_fds=(req_r, rep_w),
            stdin=subprocess.DEVNULL,
            env=env,
            close_fds=True,
        )
        os.close(req_r)
        os.close(rep_w)
        self._reply = os.fdopen(self._rep, "rb")
        self._lock = threading.Lock()
        self._ready: bool | None = None  # read when first needed: the imports run meanwhile

    def wait_ready(self) -> bool:
        """Wait until the server has imported :data:`PRELOAD`; False if it ended instead."""
        with self._lock:
            if self._ready is None:
                self._ready = self._reply.readline().strip() == b"ready"
        return self._ready

    @property
    def alive(self) -> bool:
        return self.wait_ready() and self.proc.poll() is None

    def spawn(self, module: str, args: list[str], *, env: dict, cwd: str | None) -> ForkedProcess:
        """Fork a process running ``python -m module *args`` in ``cwd`` with ``env``."""
        line = json.dumps({"module": module, "args": args, "env": env, "cwd": cwd or ""})
        if not self.wait_ready():
            raise OSError("the kernel fork server ended")
        with self._lock:
            os.write(self._req, line.encode() + b"\n")
            pid = self._reply.readline().strip()
        if not pid:
            self._ready = False
            raise OSError("the kernel fork server ended")
        return ForkedProcess(int(pid))

    def close(self) -> None:
        """Close the request pipe (the server then exits) and wait for it."""
        try:
            os.close(self._req)
        except OSError:
            pass
        self._reply.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


_SERVERS: dict[tuple[str, ...], ForkServer] = {}
_SERVERS_LOCK = threading.Lock()


def _server_for(prefix: tuple[str, ...], *, wait: bool = True) -> ForkServer | None:
    """This process's server for ``prefix``, started (or restarted) if need be."""
    if not hasattr(os, "fork"):
        return None
    with _SERVERS_LOCK:
        server = _SERVERS.get(prefix)
        if server is not None and not server.alive:
            _SERVERS.pop(prefix).close()
            server = None
        if server is None:
            try:
                server = ForkServer(prefix)
            except OSError:
                return None
            if wait and not server.alive:
                server.close()
                return None
            _SERVERS[prefix] = server
        return server


def start_server(kernel_name: str, *, wait: bool = True) -> bool:
    """Start (once per process) the fork server for kernel spec ``kernel_name``; False when the
    spec cannot be forked (its kernels then start cold). ``wait=False`` returns while the server
    is still importing (a worker's own imports then run alongside)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(kernel_name)
    except NoSuchKernel:
        return False
    parts = _split_cmd(list(spec.argv))
    return parts is not None and _server_for(parts[0], wait=wait) is not None


def servers() -> list[ForkServer]:
    """This process's fork servers (live or not)."""
    with _SERVERS_LOCK:
        return list(_SERVERS.values())


def stop_servers() -> None:
    """End this process's fork servers (their running kernels are not touched)."""
    with _SERVERS_LOCK:
        servers = list(_SERVERS.values())
        _SERVERS.clear()
    for s in servers:
        s.close()


_POLL_S = 0.01
"""How often the end of a shutting-down kernel is polled. jupyter_client polls every 0.1 s, which
a forked kernel (ended a few milliseconds after its shutdown request) turns into about 0.1 s
of waiting per run: most of what was left of a kernel's shutdown."""


class ForkProvisioner(LocalProvisioner):
    """jupyter_client's local provisioner, whose ``launch_kernel`` forks from a warm server."""

    async def wait(self) -> int | None:
        """As ``LocalProvisioner.wait``, polling every :data:`_POLL_S` instead of 0.1 s."""
        import asyncio

        if self.process:
            while await self.poll() is None:
                await asyncio.sleep(_POLL_S)
        return await super().wait()

    async def launch_kernel(self, cmd: list[str], **kwargs: Any):
        parts = _split_cmd(cmd)
        server = _server_for(parts[0]) if parts else None
        if server is None:
            return await super().launch_kernel(cmd, **kwargs)
        env = dict(kwargs.get("env") or os.environ)
        cwd = kwargs.get("cwd") or os.getcwd()  # a cold kernel inherits our working directory
        env["JPY_PARENT_PID"] = str(os.getpid())  # as jupyter_client's launcher sets it
        # ipykernel read $JPY_PARENT_PID when the server imported it: pass it explicitly
        args = [*parts[2], f"--IPKernelApp.parent_handle={os.getpid()}"]
        try:
            self.process = server.spawn(parts[1], args, env=env, cwd=str(cwd))
        except OSError:
            return await super().launch_kernel(cmd, **kwargs)
        self.pid = self.pgid = self.process.pid
        self.cwd = cwd
        return self.connection_info


class WarmKernelManager(AsyncKernelManager):
    """``AsyncKernelManager`` whose kernels are forked by this process's warm server (and whose
    shutdown notices the kernel's end within :data:`_POLL_S`, not jupyter_client's 0.1 s)."""

    async def _async_finish_shutdown(
        self, waittime: float | None = None, pollinterval: float = 0.1, restart: bool = False
    ) -> None:
        await super()._async_finish_shutdown(waittime, min(pollinterval, _POLL_S), restart)

    async def _async_pre_start_kernel(self, **kw: Any):
        if self.provisioner is None:
            import uuid

            self.kernel_id = self.kernel_id or kw.pop("kernel_id", str(uuid.uuid4()))
            self.provisioner = ForkProvisioner(
                kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self
            )
        return await super()._async_pre_start_kernel(**kw)


atexit.register(stop_servers)
