"""A linear-time string-literal lexer for xDSL, installed by xcompass's own entry points only.

xDSL 0.74 lexes a string literal with `"(?:[^"\\\n\v\f]+|\\(?:...))*"`: a nested quantifier
that backtracks exponentially when the literal is unterminated or holds a bad escape (`"` + 30
characters: minutes). Possessive quantifiers (Python 3.11) match exactly the same strings (a
run of plain characters can only end at a quote, a backslash or a line end, so giving
characters back never helps) in linear time.

`xcompass-opt` and `xcompass serve --mapping` call `harden_xdsl()` before they parse. Importing
xcompass (stock `xdsl-opt` loads `xcompass.tools.universe` through its entry point) changes
nothing in xDSL: stock `xdsl-opt` keeps xDSL's own lexer.
"""

from __future__ import annotations

import re

STRING_LITERAL = re.compile(r'"(?:[^"\\\n\v\f]++|\\(?:["nt\\]|[0-9A-Fa-f]{2}))*+"')


def harden_xdsl() -> None:
    """Make xDSL's string-literal lexing linear-time in this process (idempotent)."""
    from xdsl.utils.mlir_lexer import MLIRLexer

    MLIRLexer._unescaped_characters_regex = STRING_LITERAL
