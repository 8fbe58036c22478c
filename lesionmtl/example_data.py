"""``lesionmtl example-data DIR``: a small synthetic ``recist_table`` dataset to try the method on.

It writes what a user brings: ``lesions.csv`` and the images it lists (16-bit and 8-bit PNG, NIfTI
volumes), reference masks for some lesions, from the same generator as the synthetic DeepLesion.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lesionmtl.datasets.synthetic import write_synthetic


def write_example(out_dir: Path, n_images: int = 40, seed: int = 0, image_size: int = 128) -> Path:
    """Write the example dataset into ``out_dir``; returns the table's path."""
    write_synthetic("recist_table", out_dir, n_cases=n_images, seed=seed, image_size=image_size)
    return Path(out_dir) / "lesions.csv"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "out_dir", type=Path, metavar="DIR", help="folder to write lesions.csv, images/ and masks/ into"
    )
    parser.add_argument("--n-images", type=int, default=40, help="images to write, 1-3 lesions each (default 40)")
    parser.add_argument("--image-size", type=int, default=128, help="image side in pixels (default 128)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def run(args: argparse.Namespace) -> int:
    if args.n_images < 1 or args.image_size < 32:
        raise SystemExit("lesionmtl example-data: error: --n-images must be >= 1 and --image-size >= 32")
    table = write_example(args.out_dir, args.n_images, args.seed, args.image_size)
    print(f"wrote {table}")
    return 0
