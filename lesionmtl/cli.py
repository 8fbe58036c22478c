"""The ``lesionmtl`` command line: one entry point, one subcommand per job.

Each subcommand registers itself in :data:`SUBCOMMANDS` with a function that adds its arguments
and one that runs it; ``main`` builds the parser from that table.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lesionmtl import __version__
from lesionmtl.errors import LesionmtlError, one_line
from lesionmtl.logs import skip_collection_at_exit


@dataclass(frozen=True)
class Subcommand:
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int | None]


def _subcommands() -> dict[str, Subcommand]:
    from lesionmtl import example_data, info, segment

    return {
        "segment": Subcommand(
            "turn RECIST marks on images into lesion masks and measurements with a trained model",
            segment.add_arguments,
            segment.run,
        ),
        "info": Subcommand(
            "show what a trained model is: architecture, patches, training data, test metrics",
            info.add_arguments,
            info.run,
        ),
        "example-data": Subcommand(
            "write a small synthetic recist_table dataset (lesions.csv, images, some masks)",
            example_data.add_arguments,
            example_data.run,
        ),
    }


# Subcommands, by name; each module that provides one adds it here.
SUBCOMMANDS: dict[str, Subcommand] = _subcommands()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lesionmtl",
        description="Weakly supervised lesion segmentation from RECIST marks with multi-task learning "
        "(Chu et al., MIDL 2021). The paper's workflow runs with `snakemake`; these commands use its results.",
    )
    parser.add_argument("--version", action="version", version=f"lesionmtl {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, sub in SUBCOMMANDS.items():
        sub.add_arguments(commands.add_parser(name, help=sub.help, description=sub.help))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand.  A known error (:mod:`lesionmtl.errors`) ends it with one line on
    stderr and exit status 1; any other error is a bug and shows its traceback."""
    skip_collection_at_exit()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return SUBCOMMANDS[args.command].run(args) or 0
    except LesionmtlError as error:
        print(one_line(error), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
