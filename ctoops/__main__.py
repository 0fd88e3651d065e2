"""`python -m ctoops` runs the same CLI as the `ctoops` console script; the
every-minute checks listed in ctoops/fastpath.py start without Typer."""

import sys

from ctoops.fastpath import run_fast


def main() -> None:
    code = run_fast(sys.argv[1:])
    if code is None:
        from ctoops.cli import main as typer_main

        typer_main()
    else:
        raise SystemExit(code)


if __name__ == "__main__":
    main()
