"""`python -m bench [--quick] [--only MODULE ...]`: every benchmark, then one table."""

from __future__ import annotations

import argparse
import sys


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: proves it runs")
    parser.add_argument("--only", nargs="+", default=[], help="module names, e.g. signin")
    options = parser.parse_args()
    from bench.suite import run

    return run(options.quick, tuple(options.only))


if __name__ == "__main__":
    sys.exit(main())
