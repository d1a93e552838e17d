"""Warm kernels of the batch: a fresh forked kernel per run, isolated and reading like a cold one."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from opsnb.run import kernelpool
from opsnb.run.runner import run_notebook

PARAMS = 'lang: str = "zh"  # report language\nperiod: str = ""  # period\nshop: str = "A"  # shop'

# what a run can leave behind in its kernel: a variable, an environment variable, the working
# directory, a module-level setting of a preloaded library
PROBE = (
    "import os, pandas as pd\n"
    "print('leak_var' in globals(), os.environ.get('OPSNB_TEST_LEAK'), os.getcwd(), "
    "pd.get_option('display.max_rows'), os.environ.get('OPSNB_RUN_DIR'))"
)
LEAK = (
    "leak_var = 1\nos.environ['OPSNB_TEST_LEAK'] = '1'\npd.set_option('display.max_rows', 3)\n"
    "os.chdir('/')"
)


def _notebook(folder: Path) -> Path:
    nb = new_notebook(
        cells=[
            new_code_cell(PARAMS, metadata={"tags": ["parameters"]}),
            new_code_cell(PROBE),
            new_code_cell(LEAK),
            new_code_cell("print(os.getppid(), os.getpid())"),
            # the CJK font is registered once by the server (kernelpool.WARM_UP), not per kernel
            new_code_cell(
                "from opsnb import plots\nprint(plots.cjk_font_name.cache_info().currsize)"
            ),
            # a figure displayed as the reports display theirs (inline backend, PNG)
            new_code_cell(
                "import matplotlib.pyplot as plt\nfrom IPython.display import display\n"
                "from opsnb import plots\nax = plots.new_axes()\nax.plot([1, 3, 2])\n"
                "ax.set_title('店铺')\ndisplay(ax.figure)\nplt.close(ax.figure)"
            ),
        ]
    )
    nb.metadata["kernelspec"] = {"name": "opsnb", "display_name": "opsnb", "language": "python"}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "probe.ipynb"
    nbformat.write(nb, path)
    return path


def _figure_outputs(ipynb: str) -> list[list[str]]:
    """The mime types of the figure cell's outputs."""
    nb = nbformat.read(ipynb, as_version=4)
    return [sorted(o.get("data", {})) for o in nb.cells[-1].outputs]


def _printed(ipynb: str) -> list[str]:
    """What the probe, leak and parent-pid cells printed (papermill adds a parameters cell)."""
    nb = nbformat.read(ipynb, as_version=4)
    return [
        "".join(o.get("text", "") for o in c.get("outputs", [])).strip()
        for c in nb.cells
        if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])
    ][1:]


@pytest.fixture
def server():
    from opsnb.run.runner import kernel_name

    if not kernelpool.start_server(kernel_name()):
        pytest.skip("the kernel spec cannot be forked on this machine")
    yield
    kernelpool.stop_servers()


@pytest.mark.slow
def test_warm_runs_are_isolated_from_each_other_and_print_what_a_cold_run_prints(
    tmp_path, server, monkeypatch
):
    import papermill.engines

    from opsnb.run import runner

    monkeypatch.setattr(runner, "_SAVE_EVERY_S", 1e9)  # no cell-boundary save, however slow
    nb = _notebook(tmp_path / "notebooks")
    writes: list[str] = []
    write = papermill.engines.write_ipynb
    monkeypatch.setattr(
        papermill.engines, "write_ipynb", lambda nb, path: (writes.append(path), write(nb, path))
    )
    runs, saves = [], []
    for slug, warm in (("cold", False), ("w1", True), ("w2", True)):
        writes.clear()
        runs.append(
            run_notebook(nb, {}, output_dir=tmp_path / "out", slug=slug, ledger=False, warm=warm)
        )
        saves.append(len(writes))
    assert [r.status for r in runs] == ["ok", "ok", "ok"], [r.error for r in runs]
    # papermill saves the running notebook before and after each cell and at start and end; a
    # batch (warm) run only at start and end
    n_cells = len(nbformat.read(runs[0].ipynb_path, as_version=4).cells)
    assert n_cells == 6 and saves == [2 + 2 * n_cells, 2, 2]
    cold, w1, w2 = (_printed(r.ipynb_path) for r in runs)
    # nothing set by the first warm run (variable, environment, cwd, pandas option) is seen by
    # the second; both see what a cold kernel sees, with their own output folder
    leak, _env, cwd, rows, run_dir = cold[0].split()
    assert (leak, _env, rows, run_dir) == ("False", "None", "60", str(tmp_path / "out" / "probe"))
    assert cwd != "/"
    assert w1[0] == cold[0] and w2[0] == cold[0]
    assert cold[:2] == w1[:2] == w2[:2]
    # matplotlib was imported by the server, yet a figure reaches the notebook as from a cold
    # kernel (benchmarks/bench_batch.py's report: image/png in both)
    figures = [_figure_outputs(r.ipynb_path) for r in runs]
    assert figures[0] == figures[1] == figures[2] and figures[0]
    # the warm kernels really were forked by this process's server, one process per run
    servers = kernelpool.servers()
    assert len(servers) == 1
    (w1_parent, w1_pid), (w2_parent, w2_pid) = w1[2].split(), w2[2].split()
    assert w1_parent == w2_parent == str(servers[0].proc.pid) and w1_pid != w2_pid
    assert cold[2].split()[0] == str(os.getpid())
    # the font was registered before the kernel's first cell in warm kernels only; the same
    # notebook otherwise (the figure above)
    assert (cold[3], w1[3], w2[3]) == ("0", "1", "1")


@pytest.mark.slow
def test_a_dead_fork_server_is_started_again_for_the_next_run(tmp_path, server):
    nb = _notebook(tmp_path / "notebooks")
    (first,) = kernelpool.servers()
    first.proc.kill()
    first.proc.wait()
    res = run_notebook(nb, {}, output_dir=tmp_path / "out", ledger=False, warm=True)
    assert res.status == "ok", res.error
    (second,) = kernelpool.servers()
    assert second is not first and second.alive
    assert _printed(res.ipynb_path)[2].split()[0] == str(second.proc.pid)
