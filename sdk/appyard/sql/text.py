"""Reading a `.sql` function: its directives, its named parameters, and the text handed to the driver.

A page's ``scripts/<name>.sql`` holds one statement. Leading ``--`` comment lines may carry directives::

    -- Orders of one customer, newest first.          (any other comment line: the function's doc)
    -- source: shop                                    (the data source; default: the app's first one)
    -- param customer = filters.customer               (what a bare :customer binds)
    -- reload: orders, totals                          (after a statement: these tables' first pages)
    -- message: Order shipped.                         (shown on the first reloaded table)
    SELECT id, status FROM orders WHERE customer = :customer AND placed_at >= :filters.since

Parameters are ``:name`` or ``:block.field``; they are found by a small lexer that knows strings (``'…'``,
``E'…'``, ``$tag$…$tag$``), quoted identifiers (``"…"``, ```…```), comments (``--``, nested ``/* */``) and
PostgreSQL's ``::`` casts, so none of those is ever taken for a parameter. The driver text names each parameter
``:p0``, ``:p1`` … and escapes every other colon, so SQLAlchemy's ``text()`` binds exactly ours: values are
always bound by the driver, never pasted into the statement.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ..catalog.datatypes import DataType
from ..errors import Issue, SqlSyntaxError

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_PARAM_DIRECTIVE = re.compile(rf"^param\s+({_IDENT})\s*=\s*({_IDENT}(?:\.{_IDENT})*)\s*$")
_KEYED_DIRECTIVE = re.compile(r"^(source|reload|message)\s*:\s*(.*)$")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_WORD_START = re.compile(r"[A-Za-z_]")
_WORD = re.compile(r"[A-Za-z0-9_$]*")
_PARAM = re.compile(rf"{_IDENT}(?:\.{_IDENT})*")
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")

# The statement's first keyword says whether it returns rows (a WITH is decided by the statement after its CTEs).
_QUERY_KEYWORDS = frozenset({"select", "values", "table", "show", "explain"})
_STATEMENT_KEYWORDS = frozenset(
    {"insert", "update", "delete", "merge", "create", "alter", "drop", "truncate", "grant", "revoke", "call", "do"}
)

Kind = Literal["query", "statement"]


@dataclass(frozen=True)
class SqlScript:
    """A parsed `.sql` function."""

    name: str
    file: str
    text: str
    kind: Kind
    """"query" when the statement returns rows (SELECT, VALUES, WITH … SELECT), else "statement"."""
    source: str | None = None
    reload: tuple[str, ...] = ()
    message: str | None = None
    mapping: Mapping[str, str] = field(default_factory=dict)
    """``-- param name = block.field`` directives: bare parameter name → state path."""
    doc: str | None = None
    params: tuple[str, ...] = ()
    """Parameters as written after the colon, in order of first use."""
    lines: Mapping[str, int] = field(default_factory=dict)
    """Parameter → line of its first use."""
    _pieces: tuple[str | int, ...] = ()
    """Driver text: literal chunks (colons escaped) and indexes into ``params``."""

    @property
    def is_query(self) -> bool:
        return self.kind == "query"

    def bind_name(self, param: str) -> str:
        """The name the driver text uses for ``param`` (``p0``, ``p1``, …)."""
        return f"p{self.params.index(param)}"

    def driver_sql(self) -> str:
        """The statement for SQLAlchemy's ``text()``: parameters as ``:p<i>``, every other colon escaped.

        It ends with a newline, so a trailing ``--`` comment cannot swallow what a caller appends (wrapping the
        statement as a subquery, say)."""
        text = "".join(piece if isinstance(piece, str) else f":p{piece}" for piece in self._pieces)
        return text.rstrip() + "\n"


class _Lexer:
    """One pass over the text: parameters, the statement's kind, and the driver text."""

    def __init__(self, text: str, file: str) -> None:
        self.text = text
        self.file = file
        self.pos = 0
        self.line = 1
        self.pieces: list[str | int] = []
        self.chunk: list[str] = []
        self.params: list[str] = []
        self.lines: dict[str, int] = {}
        self.depth = 0
        self.words: list[str] = []  # keywords at parenthesis depth 0, lower case, in order
        self.ended_at: int | None = None  # line of the statement's terminating ';'

    def fail(self, message: str, line: int | None = None) -> SqlSyntaxError:
        return SqlSyntaxError(Issue(self.file, f"line {line or self.line}", message))

    def emit(self, text: str) -> None:
        self.line += text.count("\n")
        self.chunk.append(text.replace(":", "\\:"))

    def take_until(self, closing: str, start: int, what: str, *, doubled: bool = True, backslash: bool = False) -> None:
        """Emit from ``start`` through the closing quote (a doubled quote, or a backslash escape, stays inside)."""
        index = start
        while True:
            found = self.text.find(closing, index)
            slash = self.text.find("\\", index) if backslash else -1
            if found < 0:
                raise self.fail(f"unterminated {what}")
            if 0 <= slash < found:
                index = slash + 2
                continue
            if doubled and self.text.startswith(closing * 2, found):
                index = found + 2
                continue
            self.emit(self.text[self.pos : found + len(closing)])
            self.pos = found + len(closing)
            return

    def block_comment(self) -> None:
        depth, index = 0, self.pos
        while True:
            opening = self.text.find("/*", index)
            closing = self.text.find("*/", index)
            if closing < 0:
                raise self.fail("unterminated /* comment")
            if 0 <= opening < closing:
                depth, index = depth + 1, opening + 2
                continue
            depth, index = depth - 1, closing + 2
            if depth == 0:
                self.emit(self.text[self.pos : index])
                self.pos = index
                return

    def colon(self) -> None:
        text, pos = self.text, self.pos
        if text.startswith("::", pos):  # a PostgreSQL cast
            self.emit("::")
            self.pos += 2
            return
        before = text[pos - 1] if pos else ""
        match = _PARAM.match(text, pos + 1)
        if match is None or before.isalnum() or before in "_:$":
            self.emit(":")  # a slice bound, a MySQL user variable's := , a time literal outside quotes …
            self.pos += 1
            return
        name = match.group(0)
        if name not in self.lines:
            self.params.append(name)
            self.lines[name] = self.line
        self.pieces.append("".join(self.chunk))
        self.chunk = []
        self.pieces.append(self.params.index(name))
        self.pos = match.end()

    def word(self) -> None:
        match = _WORD.match(self.text, self.pos)
        assert match is not None
        word = match.group(0)
        quoted_string = word in ("E", "e") and self.text.startswith("'", match.end())
        if quoted_string:  # E'…': backslash escapes apply
            self.emit(word)
            self.pos = match.end()
            self.take_until("'", self.pos + 1, "string", backslash=True)
            return
        if self.depth == 0:
            self.words.append(word.lower())
        self.emit(word)
        self.pos = match.end()

    def run(self) -> None:
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if self.ended_at is not None and not char.isspace() and not text.startswith(("--", "/*"), self.pos):
                raise self.fail(
                    f"more than one statement (the first ends with ';' on line {self.ended_at}); a .sql function "
                    "holds one statement — put the others in their own files"
                )
            if char == "'":
                self.take_until("'", self.pos + 1, "string")
            elif char == '"':
                self.take_until('"', self.pos + 1, "quoted identifier")
            elif char == "`":
                self.take_until("`", self.pos + 1, "quoted identifier")
            elif text.startswith("--", self.pos):
                end = text.find("\n", self.pos)
                end = len(text) if end < 0 else end
                self.emit(text[self.pos : end])
                self.pos = end
            elif text.startswith("/*", self.pos):
                self.block_comment()
            elif char == "$" and (tag := _DOLLAR_TAG.match(text, self.pos)) and not _preceded_by_word(text, self.pos):
                closing = tag.group(0)
                self.take_until(closing, tag.end(), f"{closing}-quoted string", doubled=False)
            elif char == ":":
                self.colon()
            elif _WORD_START.match(char):
                self.word()
            else:
                if char == "(":
                    self.depth += 1
                elif char == ")":
                    self.depth = max(0, self.depth - 1)
                elif char == ";" and self.depth == 0:
                    self.ended_at = self.line
                    self.pos += 1
                    continue  # the terminator is not sent to the driver
                self.emit(char)
                self.pos += 1
        self.pieces.append("".join(self.chunk))

    def kind(self) -> Kind:
        words = self.words
        if not words:
            raise self.fail("the file holds no statement", line=1)
        first = words[0]
        if first == "with":  # the statement after the CTEs (each CTE's body is inside parentheses)
            main = next((word for word in words[1:] if word in _QUERY_KEYWORDS | _STATEMENT_KEYWORDS), "select")
            return "query" if main in _QUERY_KEYWORDS else "statement"
        return "query" if first in _QUERY_KEYWORDS else "statement"


def _preceded_by_word(text: str, pos: int) -> bool:
    return pos > 0 and (text[pos - 1].isalnum() or text[pos - 1] == "_")


def _header(text: str, file: str) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Directives, parameter mappings and doc lines from the leading ``--`` comment lines."""
    directives: dict[str, str] = {}
    mapping: dict[str, str] = {}
    doc: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("--"):
            break
        content = line[2:].strip()
        keyed = _KEYED_DIRECTIVE.match(content)
        param = _PARAM_DIRECTIVE.match(content)
        if keyed:
            key, value = keyed.group(1), keyed.group(2).strip()
            if key in directives:
                raise SqlSyntaxError(Issue(file, f"line {number}", f"'-- {key}:' is given twice"))
            directives[key] = value
        elif param:
            name, path = param.groups()
            if name in mapping:
                raise SqlSyntaxError(Issue(file, f"line {number}", f"parameter :{name} is mapped twice"))
            mapping[name] = path
        elif content.startswith("param "):
            raise SqlSyntaxError(
                Issue(file, f"line {number}", "write a parameter mapping as '-- param name = block.field'")
            )
        else:
            doc.append(content)
    return directives, mapping, doc


def _names(value: str, key: str, file: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in value.split(",") if part.strip())
    for name in names:
        if not _NAME.match(name):
            raise SqlSyntaxError(Issue(file, f"-- {key}", f"{name!r} is not a name (lowercase letters, digits, _)"))
    if not names:
        raise SqlSyntaxError(Issue(file, f"-- {key}", "names expected after the colon"))
    return names


def parse_sql(text: str, name: str, file: str) -> SqlScript:
    """Parse one `.sql` function; raises SqlSyntaxError naming the file and line."""
    directives, mapping, doc = _header(text, file)
    lexer = _Lexer(text, file)
    lexer.run()
    kind = lexer.kind()
    source = _names(directives["source"], "source", file) if "source" in directives else None
    if source is not None and len(source) > 1:
        raise SqlSyntaxError(Issue(file, "-- source", "one data source per .sql function"))
    reload = _names(directives["reload"], "reload", file) if "reload" in directives else ()
    message = directives.get("message") or None
    if message is not None and len(message) > 500:
        raise SqlSyntaxError(Issue(file, "-- message", "at most 500 characters"))
    return SqlScript(
        name=name,
        file=file,
        text=text,
        kind=kind,
        source=source[0] if source else None,
        reload=reload,
        message=message,
        mapping=mapping,
        doc="\n".join(doc).strip() or None,
        params=tuple(lexer.params),
        lines=dict(lexer.lines),
        _pieces=tuple(lexer.pieces),
    )


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = [choice for choice in difflib.get_close_matches(word, choices, n=3, cutoff=0.6) if choice != word]
    return f"; did you mean :{close[0]}?" if close else ""


def resolve_params(script: SqlScript, targets: Mapping[str, tuple[DataType, bool]]) -> tuple[dict[str, str], list[str]]:
    """Each parameter's state path (``block.field``), and a message for every parameter that binds nothing.

    ``targets`` are the page's state fields (:func:`appyard.validation.state_targets`).
    """
    paths: dict[str, str] = {}
    problems: list[str] = []
    known = sorted(targets)
    for name, path in script.mapping.items():
        if path not in targets:
            problems.append(
                f"'-- param {name} = {path}': the page has no state field {path}{_did_you_mean(path, known)}"
            )
        elif name not in script.params:
            problems.append(f"'-- param {name} = {path}': the statement never uses :{name}")
    for param in script.params:
        line = script.lines.get(param, 0)
        if param in script.mapping:
            if script.mapping[param] in targets:
                paths[param] = script.mapping[param]
            continue
        if "." in param:
            if param in targets:
                paths[param] = param
            else:
                hint = _did_you_mean(param, known)
                listed = "" if hint else f" (state fields: {', '.join(known) or 'none'})"
                problems.append(f"line {line}: parameter :{param} matches no state field{hint}{listed}")
            continue
        owners = [target for target in known if target.split(".", 1)[1] == param]
        if len(owners) == 1:
            paths[param] = owners[0]
        elif owners:
            choices = " or ".join(f":{owner}" for owner in owners)
            problems.append(
                f"line {line}: parameter :{param} could be {choices}; write one of them, or map it with "
                f"'-- param {param} = {owners[0]}'"
            )
        else:
            leaves = sorted({target.split(".", 1)[1] for target in known})
            hint = _did_you_mean(param, leaves) or _did_you_mean(param, known)
            problems.append(
                f"line {line}: parameter :{param} matches no state field{hint}"
                + ("" if hint else f" (state fields: {', '.join(known) or 'none'})")
            )
    return paths, problems
