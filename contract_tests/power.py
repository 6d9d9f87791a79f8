"""Run the contract suite several times in one process, each against the in-process fake in another
configuration (a deviation, a documented variant), paying the imports once.

    python -m contract_tests.power RUNS.json

RUNS.json is a list of ``{"args": [...], "report": DIR}``; each run writes ``DIR/drift.json`` and
``DIR/exit_code``. Used by tests/test_contract_power.py; output of the runs is discarded.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

import pytest

SUITE = str(Path(__file__).resolve().parent)
PROFILE = "meta"


def run(args: list[str], report: str) -> int:
    argv = [
        SUITE,
        "-q",
        "-p",
        "no:cacheprovider",
        "--hypothesis-profile",
        PROFILE,
        "--drift-report",
        report,
        *args,
    ]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = int(pytest.main(argv))
    Path(report).mkdir(parents=True, exist_ok=True)
    (Path(report) / "exit_code").write_text(str(code))
    return code


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    runs = json.loads(Path(args[0]).read_text())
    for spec in runs:
        run(spec["args"], spec["report"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
