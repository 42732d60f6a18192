"""Every notebook runs top to bottom in quick mode, offline, in a scratch folder, with nothing in
red; exported to HTML with nbconvert, it shows every GIF it showed live. The student's copies of
the homework (`notebooks/student/`) run top to bottom untouched too: each exercise's self-check
fails saying that the exercise is not written yet, and nothing else fails."""
import base64
import io
import json
import pathlib
import zipfile
from html.parser import HTMLParser

import nbformat
import pytest
from nbclient import NotebookClient
from nbconvert import HTMLExporter
from PIL import Image

NOTEBOOKS = sorted((pathlib.Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))
STUDENT = pathlib.Path(__file__).parent.parent / "notebooks" / "student"


def test_there_are_notebooks():
    assert any(nb.name == "lecture-5.ipynb" for nb in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_clean(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "strip outputs"
    assert any("parameters" in c.metadata.get("tags", []) for c in code), "needs a parameters cell"


def grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def run_quick(path: pathlib.Path, folder: pathlib.Path, monkeypatch, allow_errors=False):
    """The notebook executed in quick mode in `folder`, as a student's kernel runs it (no log
    level or plotting backend set beforehand). oneDNN's graph rewriter is on, as it is by
    default on many students' (Intel) CPUs, so its messages would show here too."""
    monkeypatch.setenv("CADL_QUICK", "1")
    monkeypatch.setenv("CADL_DATA_DIR", str(folder / "data"))
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    for name in ("TF_CPP_MIN_LOG_LEVEL", "MPLBACKEND"):
        monkeypatch.delenv(name, raising=False)
    nb = nbformat.read(path, as_version=4)
    return NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=allow_errors,
                          resources={"metadata": {"path": str(folder)}}).execute()


def outputs(nb, kind=None):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
            if kind is None or o.output_type == kind]


def image_sources(html: str) -> list[str]:
    """The src of every <img> of a page."""
    sources = []

    class Images(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "img":
                sources.append(dict(attrs).get("src", ""))
    Images().feed(html)
    return sources


def gif_frames(b64: str) -> int:
    with Image.open(io.BytesIO(base64.b64decode(b64))) as im:
        return im.n_frames


@pytest.fixture(scope="module")
def homework_folder(tmp_path_factory):
    """One folder for both parts of the homework, as a student has them: Part 2's last cell zips
    what Part 1 wrote there (the notebooks run in order)."""
    return tmp_path_factory.mktemp("homework")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch, homework_folder):
    if (STUDENT / path.name).is_file():  # homework: both parts in one folder
        tmp_path = homework_folder
        part_1_done = (tmp_path / "session-5-part-1.ipynb").is_file()
        (tmp_path / path.name).write_bytes(path.read_bytes())  # the student's saved notebook
    nb = run_quick(path, tmp_path, monkeypatch)
    nbformat.write(nb, tmp_path / path.name)  # kept with the HTML below, to look at
    assert not outputs(nb, "error")
    stderr = [o.text for o in outputs(nb, "stream") if o.name == "stderr"]
    assert not stderr, "red text in a cell:\n" + "\n".join(stderr)

    html, _ = HTMLExporter().from_notebook_node(nb)
    (tmp_path / path.with_suffix(".html").name).write_text(html, encoding="utf-8")
    sources = image_sources(html)
    assert any(src.startswith("data:image/png;base64,") for src in sources), "no figure"
    gifs = [o.data["image/gif"].replace("\n", "") for o in outputs(nb) if "image/gif" in o.get("data", {})]
    if path.stem not in ("session-5-part-2", "extensions"):  # char-RNNs show no GIF
        assert gifs and any(gif_frames(g) > 1 for g in gifs), "no animated GIF shown"
    if path.stem == "extensions":  # music and sound, heard inline: players in the HTML too
        assert html.count('<source src="data:audio/wav;base64,') >= 4, "missing audio players"
    missing = [i for i, b64 in enumerate(gifs) if f"data:image/gif;base64,{b64}" not in sources]
    assert not missing, f"GIFs {missing} of {len(gifs)} are not pictures in the HTML"
    assert "IPython.core.display" not in html
    if path.stem == "session-5-part-2" and part_1_done:  # one zip of the whole homework
        with zipfile.ZipFile(tmp_path / "session-5.zip") as zf:
            names = set(zf.namelist())
            manifest = json.loads(zf.read("MANIFEST.json"))["files"]
        assert {"session-5-part-1.ipynb", "session-5-part-2.ipynb", "part-1-arithmetic.gif",
                "part-1-progress.gif", "samples.txt", "MANIFEST.json"} <= names
        assert set(manifest) == names - {"MANIFEST.json"}


STUDENT_COPIES = sorted(STUDENT.glob("*.ipynb"))


@pytest.mark.parametrize("path", STUDENT_COPIES, ids=[p.stem for p in STUDENT_COPIES])
def test_untouched_student_copy_fails_only_its_checks(path, tmp_path, monkeypatch):
    """Run top to bottom as handed out, every exercise's check fails, once, saying that the
    exercise is not written yet; every other cell runs (it uses the library's version of what an
    exercise builds), with nothing in red."""
    (tmp_path / path.name).write_bytes(path.read_bytes())
    nb = run_quick(path, tmp_path, monkeypatch, allow_errors=True)
    nbformat.write(nb, tmp_path / path.name)
    exercises = [grade_id(c) for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert exercises, "the student's copy has no exercise"
    errors = {}
    for index, cell in enumerate(nb.cells):
        for o in cell.get("outputs", []):
            if o.output_type == "error":
                errors[grade_id(cell) or f"cell {index}"] = f"{o.ename}: {o.evalue}"
    assert set(errors) == {f"check_{x}" for x in exercises}, errors
    wrong = {k: v for k, v in errors.items()
             if not v.startswith("CheckFailed: ") or "is not written yet" not in v}
    assert not wrong, f"checks that do not say the exercise is not written yet: {wrong}"
    long = [o.traceback for o in outputs(nb, "error") if len(o.traceback) != 1]
    assert not long, f"a failed check should show its message alone, not {long[:1]}"
    stderr = [o.text for o in outputs(nb, "stream") if o.name == "stderr"]
    assert not stderr, "red text in a cell:\n" + "\n".join(stderr)
