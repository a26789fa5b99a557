"""`xcompass explore`'s knobs for the search below a layer: --fidelity, --coarse and --local
refuse bad values in one line naming the flag and its range, before any work."""

from __future__ import annotations

import pytest
from xcompass.tools.cli import main

BAD = [
    (["--fidelity", "0"], r"--fidelity 0: .* must be a number in \(0, 1\]"),
    (["--fidelity", "1.5"], r"--fidelity 1.5: .* must be a number in \(0, 1\]"),
    (["--fidelity", "nan"], r"--fidelity nan: .* in \(0, 1\]"),
    (["--fidelity", "most"], r"--fidelity most: .* in \(0, 1\]"),
    (["--local", "1"], r"--local 1: the share of the budget .* in \[0, 1\)"),
    (["--local", "-0.1"], r"--local -0.1: .* in \[0, 1\)"),
    (
        ["--coarse", "group,layer"],
        r"--coarse group,layer: the chain group,layer,tile does not "
        r"go from coarse to fine \(order: layer, group, tile\)",
    ),  # fmt: skip
    (["--coarse", "tile"], r"--coarse tile: the chain tile,tile does not go from coarse"),
    (["--coarse", "row"], r"--coarse row: unknown granularity 'row'"),
]


@pytest.mark.parametrize("argv, message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_search_knobs_are_one_line_before_any_work(argv, message, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["explore", "--layers", "1", "--granularity", "tile", "--target", "simba-36",
            "--model", "gpt3-7b", *argv, "--out", str(out)]  # fmt: skip
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    printed, err = capsys.readouterr()
    assert code != 0 and not printed
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert __import__("re").search(message, lines[0]), lines[0]
    assert not out.exists()
