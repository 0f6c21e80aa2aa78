"""Did-you-mean and the words for values, shared by every validation stage."""

from __future__ import annotations

import pytest

from lambdacron.suggest import describe, did_you_mean, join_or, quote

KEYS = ["jobName", "jobQueue", "jobDefinition", "parameters"]


@pytest.mark.parametrize(
    ("word", "candidates", "expected"),
    [
        ("jobQeue", KEYS, "jobQueue"),
        ("jobqueue", KEYS, "jobQueue"),  # case first
        ("JOBNAME", KEYS, "jobName"),
        ("paramters", KEYS, "parameters"),
        ("owner", KEYS, None),
        ("jobQueue", KEYS, None),  # nothing to suggest for a right word
        ("", KEYS, None),
        (5, KEYS, None),
        (None, KEYS, None),
        ("bach", ["queue", "batch", "http"], "batch"),
        ("Europe/Madird", ["Europe/Madrid", "Europe/Malta", "America/Madrid"], "Europe/Madrid"),
        ("x", [], None),
    ],
)
def test_did_you_mean(word: object, candidates: list[str], expected: str | None) -> None:
    assert did_you_mean(word, candidates) == expected


def test_did_you_mean_takes_any_iterable() -> None:
    assert did_you_mean("regoin", iter({"region", "store"})) == "region"
    assert did_you_mean("regoin", {"region": 1, "store": 2}) == "region"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (5, "an integer (5)"),
        (2.5, "a number (2.5)"),
        ("5", "a string ('5')"),
        ({"a": 1}, "a mapping"),
        ([1], "a list"),
        ((1,), "a list"),
        (b"x", "a bytes"),
    ],
)
def test_describe(value: object, words: str) -> None:
    assert describe(value) == words


def test_quote_shortens_and_escapes() -> None:
    assert quote("abc") == "'abc'"
    assert quote("a\tb\n") == "'a\\tb\\n'"
    assert quote("x" * 41) == f"'{'x' * 37}...'"
    assert quote("x" * 40) == f"'{'x' * 40}'"


@pytest.mark.parametrize(
    ("words", "joined"),
    [([], ""), (["a"], "a"), (["a", "b"], "a or b"), (["a", "b", "c"], "a, b or c")],
)
def test_join_or(words: list[str], joined: str) -> None:
    assert join_or(words) == joined
    assert join_or(words, "and") == joined.replace(" or ", " and ")
