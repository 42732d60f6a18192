"""What a student sees, in a real browser: the lecture runs in Jupyter (Notebook 7) in headless
Chromium, every cell through the "Run All Cells" menu, in quick mode; its GIFs play, its figures
show, and no cell shows an error or red text.

Needs Debian's Chromium at /usr/bin/chromium (`.ci/run` installs it) and the `playwright` package
(the `test` extra), which drives that Chromium: Playwright's own browser download is never used.
Without either, the test is skipped and says why (`pytest -rs`). A screenshot of the notebook
at its first animated GIF stays in the test's temporary folder.
"""
import base64
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from PIL import Image

CHROMIUM = "/usr/bin/chromium"
# Headless as root, and no background traffic (this machine has no network).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "lecture-5.ipynb"
RUN_LIMIT = 900  # seconds for all the cells (about two minutes on 2 cores)


def _missing() -> str | None:
    if not os.access(CHROMIUM, os.X_OK):
        return f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; .ci/run does)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=str(_missing()))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyter(tmp_path):
    """A Notebook 7 server on 127.0.0.1 serving a copy of the lecture from tmp_path/root, its
    kernels in quick mode; yields the notebook's URL."""
    root, home = tmp_path / "root", tmp_path / "jupyter"
    root.mkdir()
    shutil.copy(NOTEBOOK, root)
    # Render every cell (the default draws only those near the view), so all outputs are in the page.
    settings = home / "lab-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "MPLBACKEND")}
    env.update(CADL_QUICK="1", CADL_DATA_DIR=str(tmp_path / "data"), TF_ENABLE_ONEDNN_OPTS="1",
               JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(home / "lab-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), IPYTHONDIR=str(home / "ipython"))
    port, token = _free_port(), "cadl-browser-test"
    log = open(tmp_path / "jupyter.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "notebook", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         "--port-retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--allow-root"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the Jupyter server did not start:\n"
                                + (tmp_path / "jupyter.log").read_text()[-3000:])
                time.sleep(0.5)
        yield f"{base}/notebooks/{NOTEBOOK.name}?token={token}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and its kernels
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def _prompts(page) -> list[str]:
    return page.eval_on_selector_all(".jp-CodeCell .jp-InputPrompt",
                                     "els => els.map(e => e.textContent.trim())")


def _frames(data_uri: str) -> int:
    with Image.open(io.BytesIO(base64.b64decode(data_uri.split(",", 1)[1]))) as im:
        return im.n_frames


def test_lecture_runs_in_a_browser(jupyter, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            page.goto(jupyter)
            idle = ".jp-Notebook-ExecutionIndicator[data-status='idle']"
            n_code = sum(c.cell_type == "code" for c in nbformat.read(NOTEBOOK, as_version=4).cells)
            page.wait_for_function(f"() => document.querySelectorAll('.jp-CodeCell').length == "
                                   f"{n_code}", timeout=120_000)  # every cell is on the page
            page.wait_for_selector(idle, timeout=120_000)  # and the kernel is up
            started = False
            for attempt in range(3):  # a click while the page is still settling may do nothing
                page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
                page.get_by_role("menuitem", name="Run All Cells").first.click()
                clicked = time.monotonic()
                while not started and time.monotonic() < clicked + 30:
                    started = any(re.fullmatch(r"\[(\*|\d+)\]:", x) for x in _prompts(page))
                    time.sleep(0.5)
                if started:
                    break
            assert started, "Run All Cells ran nothing, three times"
            settled = 0
            while settled < 2:  # nothing running or queued, twice in a row
                prompts = _prompts(page)
                assert time.monotonic() < clicked + RUN_LIMIT, f"cells still to run: {prompts}"
                running = any("*" in x for x in prompts) or not page.locator(idle).count()
                settled = 0 if running else settled + 1
                time.sleep(1)

            red = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
            assert red.count() == 0, "red text in a cell:\n" + "\n".join(red.all_inner_texts())
            prompts = _prompts(page)
            assert len(prompts) == n_code and all(re.fullmatch(r"\[\d+\]:", x) for x in prompts), \
                f"cells that did not run: {prompts}"

            images = page.eval_on_selector_all(
                ".jp-OutputArea-output img",
                "els => els.map(e => ({src: e.src, shown: e.complete && e.naturalWidth > 0}))")
            gifs = [i for i in images if i["src"].startswith("data:image/gif;base64,")]
            figures = [i for i in images if i["src"].startswith("data:image/png;base64,")]
            assert gifs and all(g["shown"] for g in gifs), "a GIF is not shown"
            assert any(_frames(g["src"]) > 1 for g in gifs), "no GIF is animated"
            assert figures and all(f["shown"] for f in figures), "a figure is not shown"

            first = next(i for i, g in enumerate(gifs) if _frames(g["src"]) > 1)
            page.locator(".jp-OutputArea-output img[src^='data:image/gif']").nth(first) \
                .scroll_into_view_if_needed()
            page.screenshot(path=tmp_path / "lecture-5.png")
        except BaseException:
            page.screenshot(path=tmp_path / "failure.png")
            raise
        finally:
            browser.close()
