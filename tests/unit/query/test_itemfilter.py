"""The ItemFilter MessageContent dialect: grammar, canonical text, evaluation (docs/wire-format.md §5.7)."""
from __future__ import annotations

import pytest
from lxml import etree

from gateway.onvif.ns import TT
from gateway.query.itemfilter import (
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_OPERATORS,
    And,
    Attr,
    ItemTest,
    Not,
    Or,
    evaluate,
    normalise,
    parse_item_filter,
    parse_normalised,
)
from gateway.soap.fault import SoapFault

NS = {"tt": TT}
TOKEN = 'boolean(//tt:SimpleItem[@Name="VideoSourceConfigurationToken" and @Value="32010001071321008015:VSC_1"])'


def simple(name: str, value: str) -> ItemTest:
    return ItemTest("SimpleItem", And(Attr("Name", name), Attr("Value", value)))


def test_digest_example() -> None:
    assert parse_item_filter(TOKEN, NS) == simple("VideoSourceConfigurationToken", "32010001071321008015:VSC_1")
    assert normalise(parse_item_filter(TOKEN, NS)) == TOKEN


def test_and_binds_tighter_than_or_and_both_associate_left() -> None:
    a, b, c = (f'boolean(//tt:ElementItem[@Name="{n}"])' for n in "abc")
    ta, tb, tc = (ItemTest("ElementItem", Attr("Name", n)) for n in "abc")
    assert parse_item_filter(f"{a} or {b} and {c}", NS) == Or(ta, And(tb, tc))
    assert parse_item_filter(f"{a} and {b} or {c}", NS) == Or(And(ta, tb), tc)
    assert parse_item_filter(f"{a} and {b} and {c}", NS) == And(And(ta, tb), tc)
    assert parse_item_filter(f"{a} or {b} or {c}", NS) == Or(Or(ta, tb), tc)
    assert parse_item_filter(f"({a} or {b}) and not({c})", NS) == And(Or(ta, tb), Not(tc))


def test_inner_expressions_and_spacing() -> None:
    text = """ not ( boolean ( //  SimpleItem [ ( @Name = 'q"' or @ Value="v" ) and not(@Name="x") ] ) ) """
    expected = Not(ItemTest("SimpleItem", And(Or(Attr("Name", 'q"'), Attr("Value", "v")), Not(Attr("Name", "x")))))
    assert parse_item_filter(text, {}) == expected
    assert normalise(expected) == """not(boolean(//tt:SimpleItem[(@Name='q"' or @Value="v") and not(@Name="x")]))"""


def test_prefix_is_resolved_by_namespace() -> None:
    assert parse_item_filter('boolean(//o:SimpleItem[@Name="a"])', {"o": TT}) == ItemTest("SimpleItem", Attr("Name", "a"))


def test_normalise_parenthesises_exactly_where_needed() -> None:
    x, y, z = (ItemTest("SimpleItem", Attr("Name", n)) for n in "xyz")
    sx, sy, sz = (f'boolean(//tt:SimpleItem[@Name="{n}"])' for n in "xyz")
    assert normalise(And(x, And(y, z))) == f"{sx} and ({sy} and {sz})"
    assert normalise(And(Or(x, y), z)) == f"({sx} or {sy}) and {sz}"
    assert normalise(Or(x, And(y, z))) == f"{sx} or {sy} and {sz}"
    for tree in (And(x, And(y, z)), And(Or(x, y), z), Or(x, Or(y, z)), Not(Or(x, y))):
        assert parse_normalised(normalise(tree)) == tree


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "expected 'boolean(', 'not(' or '(' at position 1"),
        ("boolean(", "expected '//' at position 9"),
        ('boolean(//tt:SimpleItem[@Name="a"]) and', "expected 'boolean(', 'not(' or '(' at position 40"),
        ('boolean(//x:SimpleItem[@Name="a"])', f"prefix 'x' is not bound to {TT} at position 11"),
        ('boolean(//nope:SimpleItem[@Name="a"])', "prefix 'nope' is not bound"),
        ('boolean(//tt:Item[@Name="a"])', "expected SimpleItem or ElementItem at position 11"),
        ('boolean(//tt:SimpleItem[@Name="a])', "unterminated string at position 31"),
        ('boolean(//tt:SimpleItem[@Type="a"])', "expected @Name or @Value at position 26"),
        ("boolean(//tt:SimpleItem[@Name=a])", "expected a quoted string at position 31"),
        ('boolean(//tt:SimpleItem[@Name="a"]) junk', "unexpected text at position 37"),
        ('boolean(//tt:SimpleItem[@Name="a"]', "expected ')' at position 35"),
        ('boolean(//tt:SimpleItem[@Name!="a"])', "expected '=' at position 30"),
        ('boolean(//tt:SimpleItem[boolean(//tt:SimpleItem[@Name="a"])])', "expected '@'"),
        ('@Name="a"', "expected 'boolean(', 'not(' or '('"),
        ("boolean(//tt:[@Name='a'])", "expected a name after the prefix at position 14"),
        ("boolean(//tt:SimpleItem[@Name=\u201ca\u201d])", "expected a quoted string"),
    ],
)
def test_syntax_errors_name_the_position(text: str, reason: str) -> None:
    with pytest.raises(SoapFault) as exc:
        parse_item_filter(text, NS)
    assert etree.QName(exc.value.subcodes[0]).localname == "InvalidMessageContentExpressionFault"
    assert reason in exc.value.reason


def test_limits() -> None:
    assert (MAX_LENGTH, MAX_DEPTH, MAX_OPERATORS) == (4096, 32, 128)
    with pytest.raises(SoapFault, match="of 4097 characters; at most 4096"):
        parse_item_filter(" " * 4097, NS)
    deep = "(" * (MAX_DEPTH + 1) + TOKEN + ")" * (MAX_DEPTH + 1)
    with pytest.raises(SoapFault, match="nesting deeper than 32"):
        parse_item_filter(deep, NS)
    ok = "(" * (MAX_DEPTH - 1) + TOKEN + ")" * (MAX_DEPTH - 1)  # the predicate's [ ] is a level too
    assert parse_item_filter(ok, NS) == parse_item_filter(TOKEN, NS)
    many = "boolean(//tt:SimpleItem[" + " or ".join(['@Name="a"'] * (MAX_OPERATORS + 2)) + "])"
    with pytest.raises(SoapFault, match="more than 128 and/or/not operators"):
        parse_item_filter(many, NS)


ITEMS = [("Token", "cam1:P1"), ("Name", "Gate 8"), ("Scope", "onvif://www.onvif.org/name/x"), ("Offline", "false")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('boolean(//tt:SimpleItem[@Name="Token" and @Value="cam1:P1"])', True),
        ('boolean(//tt:SimpleItem[@Name="Token" and @Value="cam1:P2"])', False),
        # The two tests of one predicate must hold on the same item.
        ('boolean(//tt:SimpleItem[@Name="Token" and @Value="Gate 8"])', False),
        ('boolean(//tt:SimpleItem[@Value="Gate 8"])', True),
        ('boolean(//tt:SimpleItem[@Name="Location"])', False),
        ('boolean(//tt:ElementItem[@Name="Location"])', True),
        ('boolean(//tt:ElementItem[@Value="x"])', False),
        ('boolean(//tt:ElementItem[not(@Value="x")])', True),
        ('not(boolean(//tt:SimpleItem[@Name="Offline" and @Value="true"]))', True),
        ('boolean(//tt:SimpleItem[@Name="Missing"]) or boolean(//tt:ElementItem[@Name="Location"])', True),
        ('boolean(//tt:SimpleItem[@Name="Missing"]) and boolean(//tt:ElementItem[@Name="Location"])', False),
        ('boolean(//tt:SimpleItem[not(@Name="Token")])', True),
    ],
)
def test_evaluate(text: str, expected: bool) -> None:
    assert evaluate(parse_item_filter(text, NS), ITEMS, ["Location"]) is expected


def test_evaluate_accepts_one_shot_iterables() -> None:
    expr = parse_item_filter('boolean(//tt:SimpleItem[@Name="b"]) and boolean(//tt:SimpleItem[@Name="a"])', NS)
    assert evaluate(expr, iter([("a", "1"), ("b", "2")]), iter([])) is True
