"""Demonstration styles: the same reasoning, written another way."""

from __future__ import annotations

import pytest

from reasoning_irl.data.schema import make_record
from reasoning_irl.data.styles import DEMONSTRATION_STYLES, compact, restyle
from reasoning_irl.registry import UnknownNameError


def test_compact_drops_the_spaces_around_operators_only():
    assert compact("4 + 9 = 13") == "4+9=13"
    assert compact("13 - 6 = 7") == "13-6=7"
    assert compact("Ben has 3 * 4 = 12 apples") == "Ben has 3*4=12 apples"


def test_restyle_rewrites_the_reasoning_lines_and_recomputes_their_spans():
    record = make_record("r", "q?", ["4 + 9 = 13", "13 - 6 = 7"], "7", extra="kept")
    styled = restyle(record, "compact")
    assert styled["target"] == "<think>\n4+9=13\n13-6=7\n</think>\n<answer>\n7\n</answer>"
    assert styled["steps"] == [[8, 14], [15, 21]]  # "<think>\n" is 8 characters
    assert [styled["target"][a:b] for a, b in styled["steps"]] == ["4+9=13", "13-6=7"]
    assert styled["answer"] == "7" and styled["prompt"] == record["prompt"] and styled["extra"] == "kept"
    assert record["target"].startswith("<think>\n4 + 9")  # the input is not modified


def test_every_style_is_registered_and_an_unknown_one_is_named():
    assert "compact" in DEMONSTRATION_STYLES
    with pytest.raises(UnknownNameError, match="unknown demonstration style 'loud'; choose one of: compact"):
        restyle(make_record("r", "q?", ["1 + 1 = 2"], "2"), "loud")
