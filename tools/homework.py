"""The students' copies of the homework, made by nbgrader from the solved notebooks.

    make homework                      # or: python tools/homework.py
    python tools/homework.py --check   # exit 1 when notebooks/student/ is out of date

The homework notebooks in `notebooks/` are the instructor's: every exercise is solved between
`### BEGIN SOLUTION` and `### END SOLUTION`, in a cell nbgrader knows as a solution cell, and the
self-check after it is a locked, graded cell. nbgrader's `generate_assignment` (run offline, with
no gradebook database) replaces each solution with `raise NotImplementedError()`, clears the
outputs and records checksums, and this tool copies the result to `notebooks/student/`. A course
that runs nbgrader itself can use `notebooks/` as its `source/` folder directly.

A student copy is replaced only if it is still what this tool wrote (its sha256 is kept in
`notebooks/student/generated.json`): a copy someone has worked in is left alone, with a message.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from libs.downloads import file_hash  # noqa: E402  (after the path is set)
from libs.files import write_bytes_atomic  # noqa: E402

NOTEBOOKS = ROOT / "notebooks"
STUDENT = NOTEBOOKS / "student"
RECORD = STUDENT / "generated.json"
HOMEWORK = ("session-5-part-1.ipynb", "session-5-part-2.ipynb")
ASSIGNMENT = "session-5"


def generate(names=HOMEWORK) -> dict[str, bytes]:
    """The student copy of each homework notebook, as nbgrader's generate_assignment writes it."""
    with tempfile.TemporaryDirectory() as root:
        source = Path(root, "source", ASSIGNMENT)
        source.mkdir(parents=True)
        for name in names:
            shutil.copyfile(NOTEBOOKS / name, source / name)
        run = subprocess.run(
            [sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT, "--no-db",
             "--force", f"--CourseDirectory.root={root}", "--log-level=ERROR"],
            capture_output=True, text=True, cwd=root)
        if run.returncode != 0:
            raise RuntimeError(f"nbgrader generate_assignment failed:\n{run.stdout}{run.stderr}")
        return {name: Path(root, "release", ASSIGNMENT, name).read_bytes() for name in names}


def stale(copies: dict[str, bytes]) -> list[str]:
    """The student copies that are missing or differ from `copies`."""
    return [name for name, data in copies.items()
            if not (STUDENT / name).is_file() or (STUDENT / name).read_bytes() != data]


def write(copies: dict[str, bytes]) -> list[str]:
    """Write the copies that changed; refuse (ValueError) to replace one that was edited."""
    record = json.loads(RECORD.read_text()) if RECORD.is_file() else {}
    changed = stale(copies)
    edited = [name for name in changed if (STUDENT / name).is_file()
              and file_hash(STUDENT / name) != record.get(name)]
    if edited:
        raise ValueError(f"{', '.join(str(STUDENT / n) for n in edited)} changed since this tool "
                         "wrote it (someone's work?); move it elsewhere, then run this again")
    STUDENT.mkdir(exist_ok=True)
    for name in changed:
        write_bytes_atomic(STUDENT / name, copies[name])
    record = {name: file_hash(STUDENT / name) for name in copies}
    write_bytes_atomic(RECORD, (json.dumps(record, indent=1, sort_keys=True) + "\n").encode())
    return changed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only say whether notebooks/student/ is up to date (exit 1 if not)")
    args = parser.parse_args(argv)
    copies = generate()
    if args.check:
        out_of_date = stale(copies)
        for name in out_of_date:
            print(f"{STUDENT / name} is out of date: run `make homework`")
        return 1 if out_of_date else 0
    try:
        changed = write(copies)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for name in copies:
        print(f"{STUDENT / name}: {'written' if name in changed else 'up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
