"""The homework's exercises: each solution is an nbgrader solution cell followed by its graded
self-check, and the students' copies in notebooks/student/ are what nbgrader makes of the solved
notebooks today (`make homework`). That each copy's check fails with its own message, and the
solution's passes, is tested where the notebooks run (tests/test_notebooks.py)."""
import importlib.util
import json
import pathlib

import nbformat
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("homework", ROOT / "tools" / "homework.py")
homework = importlib.util.module_from_spec(spec)
spec.loader.exec_module(homework)


def nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


@pytest.mark.parametrize("name", homework.HOMEWORK)
def test_every_exercise_is_a_solution_cell_followed_by_its_check(name):
    cells = nbformat.read(homework.NOTEBOOKS / name, 4).cells
    solutions = [i for i, c in enumerate(cells) if "### BEGIN SOLUTION" in c.source]
    assert len(solutions) >= 3
    ids = [nbgrader(c)["grade_id"] for c in cells if nbgrader(c)]
    assert len(ids) == len(set(ids)), "grade ids must be unique"
    for i in solutions:
        solution, check = cells[i], cells[i + 1]
        assert nbgrader(solution).get("solution") and not nbgrader(solution).get("grade"), i
        assert all(line.startswith(" ") for line in solution.source.splitlines()
                   if "### BEGIN SOLUTION" in line), \
            f"exercise {i} should be a function's body, so that its check can say it is not written"
        assert nbgrader(check).get("grade") and nbgrader(check).get("locked"), i + 1
        assert nbgrader(check)["grade_id"] == "check_" + nbgrader(solution)["grade_id"]
        assert "checks." in check.source
        prose = next(c for c in reversed(cells[:i]) if c.cell_type == "markdown")
        assert "**Exercise.**" in prose.source, f"the text above exercise {i} should say what to do"


def test_student_copies_are_what_nbgrader_makes_of_the_notebooks_today():
    copies = homework.generate()
    assert not homework.stale(copies), "notebooks/student/ is out of date: run `make homework`"
    for name, data in copies.items():
        nb = nbformat.reads(data.decode(), 4)
        text = "".join(c.source for c in nb.cells)
        assert "### BEGIN SOLUTION" not in text and "raise NotImplementedError()" in text, name
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    record = json.loads(homework.RECORD.read_text())
    assert record == {n: homework.file_hash(homework.STUDENT / n) for n in homework.HOMEWORK}


def test_a_student_copy_someone_worked_in_is_not_replaced(tmp_path, monkeypatch):
    monkeypatch.setattr(homework, "STUDENT", tmp_path)
    monkeypatch.setattr(homework, "RECORD", tmp_path / "generated.json")
    assert homework.write({"a.ipynb": b"one"}) == ["a.ipynb"]
    assert homework.write({"a.ipynb": b"two"}) == ["a.ipynb"]      # still as written: replaced
    (tmp_path / "a.ipynb").write_bytes(b"a student's answers")
    with pytest.raises(ValueError, match="changed since this tool wrote it"):
        homework.write({"a.ipynb": b"three"})
    assert (tmp_path / "a.ipynb").read_bytes() == b"a student's answers"
