"""The one way every benchmark measures: real child processes, interleaved
rounds, medians with min/max, and each child's own rusage.

Why child processes: the every-minute cost of ctoops is interpreter start-up plus
imports plus the work, and only a fresh process pays all three. Wall time comes
around fork and reap; CPU time (user + system) and peak RSS from the child's own
rusage (`os.wait4`; ru_maxrss is in KiB on Linux), so nothing else on the machine
counts. The child is forked by a tiny `python -S` launcher, not by this process:
Linux carries the forking process's high-water RSS into the child's ru_maxrss at
exec, so a child forked from a big benchmark process would report that size.
Interleaving (A, B, C, A, B, C, ...) spreads
a noisy neighbour over every case instead of charging it to whichever case ran at
the time. Set-up a case needs before each run (a fresh copy of a store) runs
outside the timer. Output goes to temporary files, never pipes, so a chatty child
cannot block on a full pipe while it is being timed.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchmarks.stores import Stores
    from tests.integration.openclaw_gateway import OpenClawInstall

REPO = Path(__file__).resolve().parent.parent
MIB = 1 << 20


@dataclass(frozen=True)
class Case:
    """One command to measure: an argv list (never a shell string) and its setting."""

    name: str
    argv: list[str]
    env: dict[str, str] | None = None
    cwd: Path | None = None
    ok_codes: tuple[int, ...] = (0,)
    setup: Callable[[], None] | None = None  # before each run, not timed
    timeout_s: float = 600.0


@dataclass(frozen=True)
class Sample:
    wall_s: float
    cpu_s: float  # user + system time of the child: less sensitive to busy neighbours
    max_rss_bytes: int
    returncode: int
    stdout: str = ""


@dataclass(frozen=True)
class Summary:
    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        return cls(statistics.median(values), min(values), max(values), len(values))


@dataclass
class Result:
    case: Case
    samples: list[Sample] = field(default_factory=list)

    def wall(self) -> Summary:
        return Summary.of([s.wall_s for s in self.samples])

    def cpu(self) -> Summary:
        return Summary.of([s.cpu_s for s in self.samples])

    def rss(self) -> Summary:
        return Summary.of([float(s.max_rss_bytes) for s in self.samples])


def repo_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a benchmark child gets: this checkout first on PYTHONPATH,
    no CTOOPS_* settings leaking in from the caller's shell, not "under systemd",
    and bytecode allowed (see `compile_checkout`)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CTOOPS_") and k not in ("PYTHONDONTWRITEBYTECODE", "INVOCATION_ID")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.update(extra or {})
    return env


def compile_checkout(package: str = "ctoops") -> None:
    """Write the checkout's .pyc files first. An installed ctoops has them (pip
    compiles on install); a checkout run under PYTHONDONTWRITEBYTECODE=1 would
    otherwise be measured compiling itself from source on every run."""
    import compileall

    if not compileall.compile_dir(str(REPO / package), quiet=1):
        raise RuntimeError(f"cannot byte-compile {REPO / package}")


# The launcher: fork, exec the case with its output in files, wait4, report. Its own
# RSS (python -S, no site) is a few MiB, below anything measured here.
LAUNCHER = r"""
import json, os, signal, sys, time
spec = json.loads(sys.argv[1])
start = time.monotonic()
pid = os.fork()
if pid == 0:
    try:
        for fd, path in ((1, spec["out"]), (2, spec["err"])):
            f = os.open(path, os.O_WRONLY | os.O_TRUNC)
            os.dup2(f, fd)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        if spec["cwd"]:
            os.chdir(spec["cwd"])
        os.execvpe(spec["argv"][0], spec["argv"], spec["env"])
    finally:
        os._exit(127)
signal.signal(signal.SIGALRM, lambda *_: os.kill(pid, signal.SIGKILL))
signal.alarm(max(1, int(spec["timeout_s"])))
_, status, usage = os.wait4(pid, 0)
end = time.monotonic()
print(json.dumps({"start": start, "end": end, "status": status,
                  "cpu_s": usage.ru_utime + usage.ru_stime, "maxrss_kb": usage.ru_maxrss}))
"""


def _launch(case: Case, out: Path, err: Path) -> subprocess.Popen[str]:
    env = dict(case.env) if case.env is not None else dict(os.environ)
    spec = {"argv": list(case.argv), "env": env, "cwd": str(case.cwd) if case.cwd else "",
            "out": str(out), "err": str(err), "timeout_s": case.timeout_s}
    return subprocess.Popen([sys.executable, "-S", "-c", LAUNCHER, json.dumps(spec)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)


def _report(proc: subprocess.Popen[str]) -> dict[str, float]:
    text, _ = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark launcher failed (exit {proc.returncode})")
    return json.loads(text)


def _finish(case: Case, report: dict[str, float], wall: float, out: Path, err: Path) -> Sample:
    code = os.waitstatus_to_exitcode(int(report["status"]))
    stdout = out.read_bytes().decode("utf-8", "replace")
    if code not in case.ok_codes:
        stderr = err.read_bytes().decode("utf-8", "replace")
        if wall >= case.timeout_s:
            raise RuntimeError(f"{case.name}: killed after {case.timeout_s:g} s")
        raise RuntimeError(f"{case.name}: exit {code}: {stderr[-2000:]}")
    return Sample(wall, float(report["cpu_s"]), int(report["maxrss_kb"]) * 1024, code, stdout)


def measure(case: Case) -> Sample:
    """Run `case` once; its wall time, CPU time and its own peak RSS."""
    if case.setup is not None:
        case.setup()
    with tempfile.TemporaryDirectory(prefix="ctoops-bench-io-") as tmp:
        out, err = Path(tmp) / "out", Path(tmp) / "err"
        out.touch()
        err.touch()
        report = _report(_launch(case, out, err))
        return _finish(case, report, report["end"] - report["start"], out, err)


def interleaved(cases: Sequence[Case], rounds: int, warmup: int = 1) -> list[Result]:
    """Each round runs every case once, in the same order; warm-up rounds (page
    cache, .pyc files) are run and thrown away."""
    results = [Result(c) for c in cases]
    for i in range(warmup + rounds):
        for result in results:
            sample = measure(result.case)
            if i >= warmup:
                result.samples.append(sample)
    return results


def race(cases: Sequence[Case]) -> list[Sample]:
    """Start every case at once: each sample's wall time runs from the common start
    (a system-wide monotonic clock) to that child's own exit."""
    for case in cases:
        if case.setup is not None:
            case.setup()
    with tempfile.TemporaryDirectory(prefix="ctoops-bench-io-") as tmp:
        files = [(Path(tmp) / f"out{i}", Path(tmp) / f"err{i}") for i in range(len(cases))]
        for out, err in files:
            out.touch()
            err.touch()
        start = time.monotonic()
        procs = [_launch(case, out, err) for case, (out, err) in zip(cases, files, strict=True)]
        reports = [_report(p) for p in procs]
        return [_finish(case, rep, rep["end"] - start, out, err)
                for case, rep, (out, err) in zip(cases, reports, files, strict=True)]


# --- what the runner reports --------------------------------------------------------
@dataclass(frozen=True)
class Options:
    """What the runner hands each benchmark module's `rows()`."""

    workdir: Path  # scratch space, removed after the run
    full: bool = False  # the big sizes (`--full`)
    quick: bool = False  # a smoke run: smallest sizes, 2 rounds (the runner's own test)
    rounds: int | None = None  # overrides each benchmark's default
    openclaw_dir: Path | None = None  # node24/, gw71/, gw96/ (CTOOPS_OPENCLAW_DIR)
    stores: Stores | None = None  # generated gateway state, shared by the size benchmarks
    sizes_mb: tuple[int, ...] = ()  # `--sizes`: overrides the size benchmarks' sizes

    def sizes(self, default: tuple[int, ...], full: tuple[int, ...],
              quick: tuple[int, ...]) -> tuple[int, ...]:
        """Store or folder sizes in MB: --sizes, else quick, full or the default."""
        if self.sizes_mb:
            return self.sizes_mb
        return quick if self.quick else full if self.full else default

    def store_cache(self) -> Stores:
        if self.stores is None:
            raise RuntimeError("this benchmark needs Options.stores (benchmarks.stores.Stores)")
        return self.stores

    def n(self, default: int, full: int | None = None) -> int:
        """Rounds for a benchmark: --rounds, else 2 when quick, else its default."""
        if self.rounds:
            return self.rounds
        if self.quick:
            return 2
        return full if self.full and full else default


@dataclass(frozen=True)
class Row:
    """One line of the table: a measured subject (or a reason it was not measured),
    its goal and whether it met it, with the ratio."""

    benchmark: str
    subject: str
    result: Result | None = None
    goal: str = ""
    verdict: str = ""  # "met (...)", "MISSED (...)", "reference", "skipped: why"
    notes: tuple[str, ...] = ()  # lines under the table: sizes, throughput, why


def judge(value: float, limit: float, what: str, unit: str = "x", at_least: bool = False) -> str:
    """'met (1.12x <= 1.5x typer floor)' or 'MISSED (...)'; ratios with two decimals."""
    ok = value >= limit if at_least else value <= limit
    op = (">=" if ok else "<") if at_least else ("<=" if ok else ">")
    fmt = (lambda v: f"{v:.2f}x") if unit == "x" else (lambda v: f"{v:.1f} {unit}")
    words = " ".join(w for w in (fmt(value), op, fmt(limit), what) if w)
    return f"{'met' if ok else 'MISSED'} ({words})"


def both(*verdicts: str) -> str:
    """Several goals on one row: met only when all are."""
    word = "met" if all(v.startswith("met") for v in verdicts) else "MISSED"
    return word + " (" + "; ".join(v.split(" (", 1)[1].rstrip(")") for v in verdicts) + ")"


def skipped(benchmark: str, subject: str, why: str, goal: str = "") -> Row:
    return Row(benchmark, subject, None, goal, f"skipped: {why}")


def openclaw_install(base: Path | None, release: str = "gw71") -> OpenClawInstall | str:
    """The pre-installed OpenClaw (the integration suite's layout, one definition of
    it), or why it cannot be used."""
    if base is None:
        return "CTOOPS_OPENCLAW_DIR is not set (a folder with node24/, gw71/, gw96/)"
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tests.integration.openclaw_gateway import OpenClawInstall

    install = OpenClawInstall(base)
    for needed in (install.openclaw(release), install.node):
        if not needed.is_file():
            return f"{needed} is missing"
    return install


def fmt_time(s: Summary) -> str:
    if s.median >= 1.0:
        return f"{s.median:.2f} s ({s.low:.2f}–{s.high:.2f})"
    return f"{s.median * 1e3:.0f} ms ({s.low * 1e3:.0f}–{s.high * 1e3:.0f})"


def fmt_rss(s: Summary) -> str:
    return f"{s.median / MIB:.1f} ({s.low / MIB:.1f}–{s.high / MIB:.1f})"


def table(results: Sequence[Result], baseline: str | None = None,
          out: object = sys.stdout) -> None:
    """A plain-text table for a module run on its own: medians with [min-max];
    with `baseline`, each case's median ratios to it."""
    base = next((r for r in results if r.case.name == baseline), None)
    width = max(len(r.case.name) for r in results)
    write = out.write  # type: ignore[attr-defined]
    write(f"{'case':<{width}}  {'wall ms median [min-max]':<26}  {'cpu ms median [min-max]':<26}"
          f"  {'peak RSS MiB median [min-max]':<29}" + ("  x baseline wall/cpu" if base else "")
          + "\n")
    for r in results:
        w, c, m = r.wall(), r.cpu(), r.rss()
        line = (f"{r.case.name:<{width}}  {w.median * 1e3:7.1f} [{w.low * 1e3:6.1f}-"
                f"{w.high * 1e3:6.1f}]     {c.median * 1e3:7.1f} [{c.low * 1e3:6.1f}-"
                f"{c.high * 1e3:6.1f}]     {m.median / MIB:6.1f} [{m.low / MIB:5.1f}-"
                f"{m.high / MIB:5.1f}]      ")
        if base:
            line += (f"  {w.median / base.wall().median:5.2f}x"
                     f" / {c.median / base.cpu().median:4.2f}x")
        write(line.rstrip() + "\n")
