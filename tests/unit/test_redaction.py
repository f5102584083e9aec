"""Redaction of an app's declared secrets, in text, JSON values, results and chunked output."""

from __future__ import annotations

import pytest

from appyard.runs import RunError, RunResult, RunStatus
from appyard_runner.redaction import Redactor

SECRETS = {"DB_PASSWORD": "hunter2-horse", "API_TOKEN": "tok_9f8e7d", "PIN": "123"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password=hunter2-horse;", "password=[secret DB_PASSWORD];"),
        ("tok_9f8e7d and hunter2-horse", "[secret API_TOKEN] and [secret DB_PASSWORD]"),
        ("twice: tok_9f8e7dtok_9f8e7d", "twice: [secret API_TOKEN][secret API_TOKEN]"),
        ("pin 123 stays: too short to tell from a number", "pin 123 stays: too short to tell from a number"),
        ("hunter2 alone is not the secret", "hunter2 alone is not the secret"),
        ("", ""),
    ],
)
def test_values_are_replaced_by_their_names(text: str, expected: str) -> None:
    assert Redactor(SECRETS).text(text) == expected


def test_a_secret_containing_another_is_replaced_whole() -> None:
    redactor = Redactor({"SHORT": "abcd", "LONG": "xxabcdxx"})
    assert redactor.text("xxabcdxx abcd") == "[secret LONG] [secret SHORT]"


def test_a_value_with_regex_characters_is_taken_literally() -> None:
    redactor = Redactor({"WEIRD": "a.b*c(d)"})
    assert redactor.text("a.b*c(d) aXbbbc(d)") == "[secret WEIRD] aXbbbc(d)"


def test_no_secrets_returns_the_very_same_objects() -> None:
    redactor = Redactor({})
    context = {"form": {"message": "hunter2-horse"}}
    result = RunResult(run_id="r", app="a", page="p", function="f", status=RunStatus.succeeded, context=context)
    assert not redactor.active
    assert redactor.value(context) is context
    assert redactor.result(result) is result


def test_json_values_keys_and_nested_lists_are_redacted() -> None:
    redactor = Redactor(SECRETS)
    value = {"rows": [{"tok_9f8e7d": ["x hunter2-horse", 3, None, True]}], "n": 1.5}
    assert redactor.value(value) == {
        "rows": [{"[secret API_TOKEN]": ["x [secret DB_PASSWORD]", 3, None, True]}],
        "n": 1.5,
    }


def test_a_result_is_redacted_everywhere_it_can_carry_text() -> None:
    result = RunResult(
        run_id="r",
        app="a",
        page="p",
        function="f",
        status=RunStatus.failed,
        context={"form": {"message": "hunter2-horse"}},
        stdout="printed hunter2-horse\n",
        error=RunError(kind="exception", message="bad hunter2-horse", traceback="line\nValueError: hunter2-horse\n"),
    )
    redacted = Redactor(SECRETS).result(result)
    assert "hunter2-horse" not in redacted.model_dump_json()
    assert redacted.stdout == "printed [secret DB_PASSWORD]\n"
    assert redacted.error is not None
    assert redacted.error.message == "bad [secret DB_PASSWORD]"


@pytest.mark.parametrize("cut", range(1, 13))
def test_a_secret_split_between_output_chunks_is_caught(cut: int) -> None:
    stream = Redactor(SECRETS).stream()
    text = "connecting with hunter2-horse now\n"
    start = text.index("hunter2") + cut
    sent = stream.feed(text[:start]) + stream.feed(text[start:]) + stream.flush()
    assert sent == "connecting with [secret DB_PASSWORD] now\n"


def test_chunks_without_a_secret_pass_at_once_and_a_lookalike_tail_only_waits() -> None:
    stream = Redactor(SECRETS).stream()
    assert stream.feed("plain line\n") == "plain line\n"
    assert stream.feed("ends with hun") == "ends with "  # could be the start of hunter2-horse
    assert stream.feed("gry\n") == "hungry\n"
    assert stream.feed("last: hu") == "last: "
    assert stream.flush() == "hu"  # too short to tell, and the run is over


def test_a_secret_cut_by_the_output_limit_leaves_no_beginning() -> None:
    redactor = Redactor(SECRETS)
    stream = redactor.stream()
    assert stream.feed("x hunter2-ho") == "x "
    assert stream.flush() == "[secret DB_PASSWORD, cut]"
    captured = "x hunter2-ho\n[output truncated: 10 bytes not shown]"
    assert redactor.output(captured) == "x [secret DB_PASSWORD, cut]\n[output truncated: 10 bytes not shown]"


def test_values_come_from_the_environment_and_missing_ones_are_skipped() -> None:
    redactor = Redactor.from_environment(["DB_PASSWORD", "MISSING"], {"DB_PASSWORD": "hunter2-horse", "OTHER": "x"})
    assert redactor.text("hunter2-horse") == "[secret DB_PASSWORD]"
    assert not Redactor.from_environment(["MISSING"], {}).active


@pytest.mark.parametrize("value", ['pa"ss\\word', "zeilen\nbruch", "ünïcødé-ß", "tab\there", "ctl\x01char"])
def test_values_that_json_escapes_are_still_found_in_data(value: str) -> None:
    redactor = Redactor({"ODD": value})
    assert redactor.value({"form": {"message": f"x {value} y"}}) == {"form": {"message": "x [secret ODD] y"}}
    result = RunResult(run_id="r", app="a", page="p", function="f", status=RunStatus.failed, stdout=f"x{value}")
    assert redactor.leaks(result.model_dump_json().encode())  # the runner's check before it writes a result
    assert not redactor.leaks(result.model_copy(update={"stdout": "clean"}).model_dump_json().encode())


def test_a_numeric_secret_returned_as_a_number_is_replaced() -> None:
    redactor = Redactor({"PIN": "48151623"})
    assert redactor.value({"pin": 48151623, "other": 4815, "flag": True}) == {
        "pin": "[secret PIN]",
        "other": 4815,
        "flag": True,
    }
