"""Prints the pinned requirements of pyproject.toml: the runtime dependencies
plus the optional extras named on the command line, one ``name==version`` a line.

The images install exactly these (``pip install -r``) without installing the
project itself: the code is copied beside them, so that the shipped models
and the variants file keep their places relative to the code. Standard
library only: it runs in the image's build stage before anything is installed.

    python3 scripts/pinned_requirements.py [--pyproject PATH] [EXTRA ...]
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path


def pinned(pyproject: Path, extras: list[str]) -> list[str]:
    """The requirements of ``[project].dependencies`` and ``extras``, in file order."""
    project = tomllib.loads(pyproject.read_text())["project"]
    optional = project.get("optional-dependencies", {})
    unknown = [extra for extra in extras if extra not in optional]
    if unknown:
        raise ValueError(f"unknown extras {unknown}; pyproject.toml has {sorted(optional)}")
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += optional[extra]
    loose = [r for r in requirements if "==" not in r]
    if loose:
        raise ValueError(f"every requirement must be pinned with ==, not {loose}")
    return requirements


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--pyproject", type=Path, default=Path("pyproject.toml"))
    parser.add_argument("extras", nargs="*", help="optional-dependency groups, e.g. models stores")
    args = parser.parse_args()
    try:
        print("\n".join(pinned(args.pyproject, args.extras)))
    except ValueError as exc:
        sys.exit(f"pinned_requirements: {exc}")


if __name__ == "__main__":
    main()
