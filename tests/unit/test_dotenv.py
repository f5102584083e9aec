"""The workspace's .env: what each line form means, and a clear error (with its line number) for a malformed one."""

from __future__ import annotations

from pathlib import Path

import pytest

from appyard.errors import DotenvInvalid
from appyard.sql.dotenv import MAX_BYTES, load_dotenv, parse_dotenv, read_dotenv

GOOD = [
    ("KEY=value", {"KEY": "value"}),
    ("  KEY = value  ", {"KEY": "value"}),
    ("export KEY=value", {"KEY": "value"}),
    ("KEY=", {"KEY": ""}),
    ("KEY=a=b=c", {"KEY": "a=b=c"}),
    ("KEY=value # a comment", {"KEY": "value"}),
    ("KEY=pass#word", {"KEY": "pass#word"}),
    ("KEY='single # quoted'", {"KEY": "single # quoted"}),
    ("KEY='no \\n escapes'", {"KEY": "no \\n escapes"}),
    ('KEY="two\\nlines"', {"KEY": "two\nlines"}),
    ('KEY="a \\"quote\\" and \\\\"', {"KEY": 'a "quote" and \\'}),
    ('KEY="value"   # comment', {"KEY": "value"}),
    (
        "KEY=postgresql://u:p%40ss@127.0.0.1:5432/shop?sslmode=disable",
        {"KEY": "postgresql://u:p%40ss@127.0.0.1:5432/shop?sslmode=disable"},
    ),
    ("KEY=ünïcødé", {"KEY": "ünïcødé"}),
    ("# comment\n\n   # indented comment\nA=1\nB=2", {"A": "1", "B": "2"}),
    ("A=1\nA=2", {"A": "2"}),
    ("A=1\r\nB=2\r\n", {"A": "1", "B": "2"}),
    ("_UNDER_score9=x", {"_UNDER_score9": "x"}),
]


@pytest.mark.parametrize(("text", "expected"), GOOD, ids=[case[0][:30] for case in GOOD])
def test_lines_mean_what_a_shell_would_read(text: str, expected: dict[str, str]) -> None:
    assert parse_dotenv(text) == expected


BAD = [
    ("just hunter2 words", 1, "no '='"),
    ("A=1\n\n9KEY=hunter2", 3, "letters, digits"),
    ("A=1\nMY-KEY=hunter2", 2, "letters, digits"),
    ("=hunter2", 1, "letters, digits"),
    ("KEY='hunter2", 1, "single quote is not closed"),
    ('KEY="hunter2', 1, "double quote is not closed"),
    ('KEY="hunter2" trailing', 1, "after the closing quote"),
    ("export", 1, "no '='"),
]


@pytest.mark.parametrize(("text", "line", "fragment"), BAD, ids=[case[0][:30] for case in BAD])
def test_a_malformed_line_names_its_number_and_never_its_value(text: str, line: int, fragment: str) -> None:
    with pytest.raises(DotenvInvalid) as raised:
        parse_dotenv(text, "workspace/.env")
    message = str(raised.value)
    assert message.startswith(f"workspace/.env: line {line}: ")
    assert fragment in message
    assert "hunter2" not in message


def test_a_missing_file_holds_nothing(tmp_path: Path) -> None:
    assert read_dotenv(tmp_path / ".env") == {}


def test_a_huge_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("A=" + "x" * MAX_BYTES)
    with pytest.raises(DotenvInvalid, match=r"more than a \.env may hold"):
        read_dotenv(path)


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes(b"A=\xff\xfe\n")
    with pytest.raises(DotenvInvalid, match="UTF-8"):
        read_dotenv(path)


def test_loading_never_overrides_what_the_environment_has(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("APPYARD_DB_SHOP=from-file\nAPPYARD_DB_CRM=crm-from-file\nEMPTY_SET=from-file\n")
    environ = {"APPYARD_DB_SHOP": "from-environment", "EMPTY_SET": ""}
    added = load_dotenv(path, environ)
    assert added == {"APPYARD_DB_CRM": "crm-from-file"}
    assert environ == {"APPYARD_DB_SHOP": "from-environment", "APPYARD_DB_CRM": "crm-from-file", "EMPTY_SET": ""}
