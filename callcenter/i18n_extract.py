"""A strict pybabel extractor for scripts and Python: only a `t` call whose one argument is a literal key.

Babel's own python and javascript extractors join every string literal in a call, so
`t("a" if x else "b")` would become the id "ab" and `t(`ak_${kind}`)` the id "ak_${kind}".
Keys built at run time are listed in callcenter/i18n_keys.py instead.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from typing import IO, Any

KEY_CALL = re.compile(r"""(?<![\w$])t\(\s*(["'])([A-Za-z][A-Za-z0-9_]*)\1\s*[,)]""")


def extract_keys(fileobj: IO[bytes], keywords: Mapping[str, Any] | Collection[str],
                 comment_tags: Collection[str], options: Mapping[str, Any]
                 ) -> Iterator[tuple[int, str, str, list[str]]]:
    """Yield (line, funcname, key, comments) for each literal-key `t` call in the file."""
    source = fileobj.read().decode(str(options.get("encoding", "utf-8")))
    for match in KEY_CALL.finditer(source):
        yield source.count("\n", 0, match.start()) + 1, "t", match.group(2), []
