"""The API's request parsers (``DEFAULT_PARSER_CLASSES``).

(Not in ``crm.rest``: DRF reads the parser setting while its ``views`` module loads, which
``crm.rest`` imports.)
"""

from __future__ import annotations

import re

from rest_framework import exceptions, parsers
from rest_framework.utils import json

# The deepest nesting of arrays and objects a JSON body may have: far beyond any resource's
# shape, far below what would exhaust the parser's recursion.
MAX_JSON_DEPTH = 64
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def json_too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON ``text`` nests arrays and objects more than ``limit`` levels deep
    (brackets inside strings do not count). Linear, and without recursion."""
    depth = 0
    for token in _JSON_TOKENS.finditer(text):
        char = token.group()
        if char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser that refuses, with a 400, a body nested deeper than
    ``MAX_JSON_DEPTH`` (one nested 5,000 levels would exhaust the decoder's recursion)."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        try:
            text = stream.read().decode(encoding)
        except UnicodeDecodeError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
        if json_too_deep(text):
            raise exceptions.ParseError(
                f"JSON parse error - nested too deep (more than {MAX_JSON_DEPTH} levels)."
            )
        try:
            parse_constant = json.strict_constant if self.strict else None
            return json.loads(text, parse_constant=parse_constant)
        except (ValueError, RecursionError) as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
