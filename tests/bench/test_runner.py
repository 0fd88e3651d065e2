"""`python -m benchmarks` must not rot silently (issue 12): run it in its quick mode
on its cheapest benchmark and check what it prints and writes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from benchmarks.__main__ import BENCHMARKS, run_one
from benchmarks.common import Options
from benchmarks.report import COLUMNS
from tests.conftest import ctoops_env

REPO = Path(__file__).resolve().parents[2]


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    env = ctoops_env()
    env.pop("CTOOPS_OPENCLAW_DIR", None)
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def _table(text: str) -> list[list[str]]:
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in rows]


def test_quick_run_prints_and_writes_the_table(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    proc = _bench("--quick", "--only", "check_resources", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    printed = _table(proc.stdout)
    assert printed[0] == list(COLUMNS)
    body = printed[1:]
    assert [r[1] for r in body][2:] == ["`ctoops --json check resources`", "`ctoops gate spawn`"]
    for row in body:
        assert len(row) == len(COLUMNS)
        assert row[2] == "2"  # rounds
        for cell in row[3:5]:
            assert re.fullmatch(r"\d+(\.\d+)? m?s \(\d+(\.\d+)?–\d+(\.\d+)?\)", cell), cell
        assert re.fullmatch(r"\d+\.\d \(\d+\.\d–\d+\.\d\)", row[5]), row[5]
        assert row[7] == "reference" or re.match(r"(met|MISSED) \(\d+\.\d\dx", row[7]), row[7]
    doc = out.read_text(encoding="utf-8")
    assert _table(doc) == printed
    for needed in ("## Machine", "cores", "Python: CPython", "- date: ",
                   "- command: `python -m benchmarks --quick --only check_resources --out"):
        assert needed in doc, needed


def test_missing_benchmark_module_is_reported_as_skipped(tmp_path: Path) -> None:
    BENCHMARKS["not_written_yet"] = ("a slot for a benchmark still being written", ">= 1x")
    try:
        rows = run_one("not_written_yet", Options(workdir=tmp_path))
    finally:
        del BENCHMARKS["not_written_yet"]
    assert [(r.verdict, r.goal) for r in rows] == [
        ("skipped: benchmarks/not_written_yet.py is not there yet", ">= 1x")]


def test_a_module_runs_on_its_own_as_json(tmp_path: Path) -> None:
    env = ctoops_env()
    proc = subprocess.run([sys.executable, "-m", "benchmarks.contention", "--quick", "--json"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["benchmark"] for r in rows] == ["lock contention"] * 3
    racing = rows[1]
    assert racing["rounds"] == 2 and racing["wall_s"]["median"] > 0
    assert racing["result"].startswith(("met", "MISSED"))
    assert "audit verify` afterwards: exit 0" in racing["notes"][0]
