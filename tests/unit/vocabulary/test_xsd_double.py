"""vocabulary.xsd.xsd_double: the one xs:double text of the resource events and of the filters sent to segments."""
from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.vocabulary.xsd import xsd_double

#: The xs:double lexical space (XML Schema 1.1 Part 2, 3.3.5), without INF/NaN, which are never written.
XSD_DOUBLE = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([Ee][+-]?[0-9]+)?")


def _write_before(value: float) -> str:
    """The copy onvif/resource_event/write.py had, kept here to hold the wire bytes to it."""
    return repr(value) if value != int(value) else str(int(value))


def _filters_before(value: float) -> str:
    """The copy query/filters.py had."""
    return str(int(value)) if value == int(value) else repr(value)


@pytest.mark.parametrize(("value", "text"), [
    (300.0, "300"), (0.0, "0"), (-0.0, "0"), (-12.0, "-12"), (52.520008, "52.520008"), (13.404954, "13.404954"),
    (0.1, "0.1"), (1e-05, "1e-05"), (-2.5e-300, "-2.5e-300"), (1e16, "10000000000000000"), (5e-324, "5e-324"),
    (100, "100"),
])
def test_examples(value: float, text: str) -> None:
    assert xsd_double(value) == text


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_same_text_as_both_former_copies_and_reads_back(value: float) -> None:
    text = xsd_double(value)
    assert text == _write_before(value) == _filters_before(value)
    assert XSD_DOUBLE.fullmatch(text), text
    assert float(text) == value


@pytest.mark.parametrize(("value", "error"), [(math.nan, ValueError), (math.inf, OverflowError),
                                              (-math.inf, OverflowError)])
def test_no_text_for_nan_or_infinity(value: float, error: type[Exception]) -> None:
    with pytest.raises(error):
        xsd_double(value)
