"""Output for people: a Rich table on a TTY that cannot be broken by text it shows."""

from __future__ import annotations

import io

from ctoops.report import Finding, Report, render


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_rich_table_escapes_markup_in_reasons() -> None:
    out = _Tty()
    report = Report("status", 1, "WARNING", "reason [/bold] [red]x",
                    [Finding("gateway", "needs_approval", "medium", "held: [/] [bold]rm -rf")])
    render(report, as_json=False, stream=out)
    text = out.getvalue()
    assert "[/bold]" in text and "[bold]rm -rf" in text


def test_plain_output_has_perfdata_and_one_line_per_finding() -> None:
    out = io.StringIO()
    report = Report("check resources", 1, "WARNING", "memory 90%",
                    [Finding("resources", "memory", "medium", "90% used"),
                     Finding("gpu", "gpu", "none", "GPU: none")], {"mem": "90%;85;95"})
    render(report, as_json=False, stream=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "CHECK RESOURCES WARNING - memory 90% | mem=90%;85;95"
    assert len(lines) == 3
