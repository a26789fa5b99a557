"""The linear-time string-literal lexer: it matches exactly what xDSL's own pattern matches,
and only xcompass's entry points install it (stock `xdsl-opt` loading xcompass through the
`xdsl.universe` entry point keeps xDSL's lexer)."""

import re
import subprocess
import sys

from xcompass.tools.opt_lexer import STRING_LITERAL

XDSL_PATTERN = re.compile(r'"(?:[^"\\\n\v\f]+|\\(?:["nt\\]|[0-9A-Fa-f]{2}))*"')
"""xDSL 0.74's `MLIRLexer._unescaped_characters_regex`."""


def test_same_matches_as_xdsl() -> None:
    cases = ['""', '"abc"', '"a\\"b"', '"\\n\\t\\\\"', '"\\4F"', '"bad \\q"', '"open', '"x\ny"',
             '"a"b"', '"\\"', '"\\0"', '"tab\tok"']  # fmt: skip
    for text in cases:
        ours, theirs = STRING_LITERAL.match(text), XDSL_PATTERN.match(text)
        assert (ours and ours.group()) == (theirs and theirs.group()), text


def test_unterminated_is_linear() -> None:
    assert STRING_LITERAL.match('"' + "ab" * 100_000 + "\\q") is None  # instant, not minutes


def test_importing_xcompass_leaves_xdsl_alone() -> None:
    """What stock xdsl-opt does: load the universe, its dialects and passes; then the lexer
    must be xDSL's. Run in a fresh interpreter (this one may have imported xcompass-opt)."""
    code = (
        "from xcompass.tools.universe import XCOMPASS_UNIVERSE as U\n"
        "[f() for f in U.all_dialects.values()]; [f() for f in U.all_passes.values()]\n"
        "from xdsl.utils.mlir_lexer import MLIRLexer\n"
        "from xcompass.tools.opt_lexer import STRING_LITERAL\n"
        "print(MLIRLexer._unescaped_characters_regex is STRING_LITERAL)\n"
        "import xcompass.tools.opt\n"
        "print(MLIRLexer._unescaped_characters_regex is STRING_LITERAL)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
