"""The fast lane takes only query values whose meaning is plain; anything else is FastAPI's to
parse (or to refuse with its own words)."""

import pytest

from rnnrec.serving.fast_lane import Pass, query_bool, query_float, query_int


@pytest.mark.parametrize(("text", "value"), [(None, 20), ("20", 20), ("0", 0), ("1000", 1000)])
def test_query_int_plain(text, value):
    assert query_int({} if text is None else {"k": text}, "k", 20, 0, 1000) == value


@pytest.mark.parametrize("text", ["020", "+20", "-1", "1001", "", "2.0", "²", "٣", " 5"])
def test_query_int_passes_the_rest_on(text):
    with pytest.raises(Pass):
        query_int({"k": text}, "k", 20, 0, 1000)


def test_query_bool_and_float():
    assert [query_bool({"x": t}, "x", False) for t in ("true", "1", "false", "0")] == [True, True, False, False]
    assert query_bool({}, "x", True) is True
    for text in ("yes", "True", "on", ""):
        with pytest.raises(Pass):
            query_bool({"x": text}, "x", True)
    assert query_float({"at": "1700000000.5"}, "at") == 1700000000.5 and query_float({}, "at") is None
    assert query_float({"at": "-3e2"}, "at") == -300.0
    for text in ("nan", "inf", "1e999", "0x10", "1_000", ""):
        with pytest.raises(Pass):
            query_float({"at": text}, "at")
