"""`python -m ctoops` runs the same CLI as the `ctoops` console script."""

from ctoops.cli import main

if __name__ == "__main__":
    main()
