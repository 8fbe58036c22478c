"""The `lesionmtl` command line: help, and one plain line for a user's mistake (its installed
console script and --version: tests/test_install.py)."""

import pytest

from lesionmtl.cli import SUBCOMMANDS
from tests.conftest import cli


@pytest.mark.parametrize("command", [[], *([name] for name in SUBCOMMANDS)])
def test_help(command, tmp_path):
    result = cli(*command, "--help", cwd=tmp_path)
    assert result.returncode == 0 and f"usage: lesionmtl {' '.join(command)}".strip() in result.stdout


def test_unknown_subcommand_fails():
    result = cli("no-such-command")
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_a_missing_or_foreign_checkpoint_is_one_line(tmp_path):
    """A user's wrong path or wrong file ends with one line naming it, no traceback."""
    missing = cli("info", str(tmp_path / "nowhere.pt"))
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert missing.stderr.strip().splitlines() == [
        f"lesionmtl: {tmp_path / 'nowhere.pt'}: no such checkpoint file (a trained run's model.pt)"
    ]
    foreign = tmp_path / "weights.pt"
    foreign.write_bytes(b"not a torch file")
    table = tmp_path / "lesions.csv"
    table.write_text("image,x11,y11,x12,y12,x21,y21,x22,y22\n")
    result = cli("segment", "--checkpoint", str(foreign), "--table", str(table), "--out", str(tmp_path / "out"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"lesionmtl: {foreign}: not a loadable lesionmtl checkpoint")


def test_segment_one_image_checks_the_marks_like_a_table_row(tmp_path):
    """--image with a short axis longer than the long one is refused, as the same row in a table is."""
    image = tmp_path / "slice.png"
    image.write_bytes(b"")
    swapped = ["10", "20", "14", "20", "12", "10", "12", "30"]  # long axis 4 px, short axis 20 px
    result = cli(
        "segment", "--checkpoint", str(tmp_path / "m.pt"), "--image", str(image), "--recist", *swapped,
        "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"lesionmtl: {image}: ") and "short axis" in line
    assert not (tmp_path / "out").exists()
