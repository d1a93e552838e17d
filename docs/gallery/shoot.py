"""Regenerate the README's screenshots (``make gallery``): demo reports in headless Chromium.

Shoots ``outputs/`` as ``make demo`` leaves it; a report that is not there yet is run first
(``opsnb run NOTEBOOK -f params/demo-….yaml``, generating the demo store if needed). Each PNG
is cropped to a fixed height and reduced to 256 colours so it stays under 250 kB. Without
Chromium it says so and exits 0 (the committed PNGs stay as they are).

    python docs/gallery/shoot.py            # from the project root; $OPSNB_CHROMIUM picks the browser
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from opsnb.run.render import find_chromium

ROOT = Path(__file__).resolve().parents[2]
GALLERY = ROOT / "docs" / "gallery"
MAX_BYTES = 250_000
# (file, notebook, params file, report slug, width, height): what the README shows
SHOTS = [
    (
        "monitoring-zh-phone.png",
        "03_daily_monitoring",
        "demo-2025-Q4.yaml",
        "demo-2025-Q4-zh",
        390,
        1700,
    ),
    (
        "monitoring-zh-laptop.png",
        "03_daily_monitoring",
        "demo-2025-Q4.yaml",
        "demo-2025-Q4-zh",
        1280,
        1150,
    ),
    ("abtest-en-laptop.png", "04_ab_test", "demo-2025-11-en.yaml", "demo-2025-11-en", 1280, 1250),
    ("index-laptop.png", None, None, None, 1280, 800),
]


def report(notebook: str, params: str, slug: str, folder: Path) -> Path:
    """The demo report, rendered into ``folder`` by the current renderer from the executed
    notebook under outputs/ (run first when it is not there), so the shot shows today's
    layout even when outputs/ is older."""
    import json

    from opsnb import config
    from opsnb.run.render import render_html

    found = sorted(config.outputs_dir().glob(f"{notebook}/*/{slug}.ipynb"))
    if not found:
        opsnb = [sys.executable, "-m", "opsnb.cli"]
        if not config.demo_db_path().is_file():
            subprocess.run([*opsnb, "demo", "--data-only"], cwd=ROOT, check=True)
        subprocess.run([*opsnb, "run", notebook, "-f", f"params/{params}"], cwd=ROOT, check=True)
        found = sorted(config.outputs_dir().glob(f"{notebook}/*/{slug}.ipynb"))
    rec = json.loads(found[-1].with_suffix(".json").read_text(encoding="utf-8"))
    meta = {"notebook": f"{notebook}.ipynb", "duration_s": rec.get("duration_s", 0.0)}
    meta["run_at"] = rec.get("started_at", "")
    return render_html(
        found[-1], folder / f"{notebook}-{slug}.html", params=rec["params"], meta=meta
    )


def shoot(browser: str, page: Path, out: Path, width: int, height: int) -> int:
    """Screenshot ``page`` ``width`` px wide, keep the top ``height`` px, 256 colours."""
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "shot.png"
        subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--disable-background-networking",
                "--no-first-run",
                f"--user-data-dir={Path(tmp) / 'profile'}",
                "--force-device-scale-factor=1",
                f"--window-size={width},{height}",
                f"--screenshot={raw}",
                page.as_uri(),
            ],
            capture_output=True,
            timeout=120,
            check=True,
        )
        img = Image.open(raw).convert("RGB").crop((0, 0, width, height))
        img.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    return out.stat().st_size


def main() -> int:
    browser = find_chromium()
    if browser is None:
        print(
            "make gallery: skipped, no Chromium found (/usr/bin/chromium, chromium on PATH or "
            "$OPSNB_CHROMIUM; Debian: apt-get install chromium). docs/gallery/ is unchanged."
        )
        return 0
    from opsnb import config
    from opsnb.run.render import write_index

    GALLERY.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, notebook, params, slug, width, height in SHOTS:
            page = report(notebook, params, slug, Path(tmp)) if notebook else write_index()
            size = shoot(browser, page, GALLERY / name, width, height)
            what = f"{notebook} {slug}" if notebook else config.outputs_dir() / "index.html"
            print(f"docs/gallery/{name}: {what}, {width} px wide, {size / 1e3:.0f} kB")
            if size > MAX_BYTES:
                print(
                    f"  above {MAX_BYTES / 1e3:.0f} kB: lower its height in SHOTS", file=sys.stderr
                )
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
