"""The ItemFilter MessageContent dialect: a small XPath subset over message items (docs/wire-format.md §5.7).

Grammar (``and`` binds tighter than ``or``, both left-associative, XPath 1.0)::

    Expr     := Expr 'or' Expr | Expr 'and' Expr | '(' Expr ')' | 'not' '(' Expr ')' | BoolExpr
    BoolExpr := 'boolean' '(' '//' [prefix ':'] ('SimpleItem' | 'ElementItem') '[' AttrExpr ']' ')'
    AttrExpr := AttrExpr 'or' AttrExpr | AttrExpr 'and' AttrExpr | '(' AttrExpr ')'
              | 'not' '(' AttrExpr ')' | ('@Name' | '@Value') '=' string

It is parsed by recursive descent, not handed to an XPath engine: the filter
comes from the client and is stored with the pull point, so it must be
bounded, and the gateway evaluates it on the items of resources in Python.
A test applies across Source, Key and Data alike.  :func:`normalise` writes the
canonical text with the ``tt`` prefix, which re-parses without the original
namespace context (:func:`parse_normalised`).
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from gateway.onvif import faults
from gateway.onvif.ns import TT
from gateway.soap.fault import SoapFault

#: Longest expression accepted; real filters name a few tokens.
MAX_LENGTH = 4096
#: Deepest nesting of brackets, and most and/or/not operators, accepted: together they keep
#: every tree walk (parse, normalise, evaluate) far below Python's recursion limit.
MAX_DEPTH = 32
MAX_OPERATORS = 128
CANONICAL_NSMAP: dict[str | None, str] = {"tt": TT}
ITEM_KINDS = ("SimpleItem", "ElementItem")
ATTRIBUTES = ("Name", "Value")

_NAME = re.compile(r"[^\W\d][\w.\-]*")  # an XML NCName, near enough for keywords and prefixes
_SPACE = " \t\r\n"


@dataclass(frozen=True)
class Attr:
    """``@Name="value"`` or ``@Value="value"``."""

    name: str
    value: str


@dataclass(frozen=True)
class ItemTest:
    """``boolean(//tt:SimpleItem[condition])``: some item of that kind satisfies ``condition``."""

    kind: str
    condition: Expr


@dataclass(frozen=True)
class And:
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Or:
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Not:
    operand: Expr


Expr = Attr | ItemTest | And | Or | Not
#: A parsed ItemFilter expression (ItemTest leaves; Attr leaves only inside them).
ItemExpr = Expr


class _Parser:
    def __init__(self, text: str, nsmap: Mapping[str | None, str]) -> None:
        self.text, self.nsmap, self.pos, self.depth, self.operators = text, nsmap, 0, 0, 0

    def fail(self, what: str, at: int | None = None) -> SoapFault:
        at = self.pos if at is None else at
        return faults.invalid_message_content_expression(
            f"ItemFilter expression {self.text!r}: {what} at position {at + 1}"
        )

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _SPACE:
            self.pos += 1

    def name(self) -> str | None:
        """The NCName at the cursor (after whitespace), without consuming it."""
        self.skip()
        m = _NAME.match(self.text, self.pos)
        return m.group() if m else None

    def qname(self) -> str | None:
        """Consume ``[prefix ':'] local`` (no whitespace inside) and return the local name."""
        start, local = self.pos, self.name()
        if local is None:
            return None
        self.pos += len(local)
        if self.text.startswith(":", self.pos):
            if self.nsmap.get(local) != TT:  # docs/wire-format.md §5.7: the prefix must map to the tt namespace
                raise self.fail(f"prefix {local!r} is not bound to {TT}", start)
            m = _NAME.match(self.text, self.pos + 1)
            if m is None:
                raise self.fail("expected a name after the prefix", self.pos + 1)
            local, self.pos = m.group(), m.end()
        return local

    def take(self, literal: str) -> None:
        self.skip()
        if not self.text.startswith(literal, self.pos):
            raise self.fail(f"expected {literal!r}")
        self.pos += len(literal)

    def word(self, expected: str) -> bool:
        """Consume the keyword ``expected`` if it is next."""
        if self.name() != expected:
            return False
        if expected in ("and", "or", "not"):
            self.operators += 1
            if self.operators > MAX_OPERATORS:
                raise self.fail(f"more than {MAX_OPERATORS} and/or/not operators")
        self.pos += len(expected)
        return True

    def expression(self, inner: bool) -> Expr:
        """``or`` of ``and`` of primaries; ``inner`` is True inside ``[...]``."""
        left = self.conjunction(inner)
        while self.word("or"):
            left = Or(left, self.conjunction(inner))
        return left

    def conjunction(self, inner: bool) -> Expr:
        left = self.primary(inner)
        while self.word("and"):
            left = And(left, self.primary(inner))
        return left

    def nested(self, inner: bool, close: str) -> Expr:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"nesting deeper than {MAX_DEPTH}")
        expr = self.expression(inner)
        self.take(close)
        self.depth -= 1
        return expr

    def primary(self, inner: bool) -> Expr:
        self.skip()
        if self.text.startswith("(", self.pos):
            self.pos += 1
            return self.nested(inner, ")")
        if self.word("not"):
            self.take("(")
            return Not(self.nested(inner, ")"))
        return self.attribute() if inner else self.item_test()

    def item_test(self) -> ItemTest:
        if not self.word("boolean"):
            raise self.fail("expected 'boolean(', 'not(' or '('")
        self.take("(")
        self.take("//")
        self.skip()
        start = self.pos
        local = self.qname()
        if local not in ITEM_KINDS:
            raise self.fail("expected SimpleItem or ElementItem", start)
        self.take("[")
        condition = self.nested(True, "]")
        self.take(")")
        return ItemTest(local, condition)

    def attribute(self) -> Attr:
        self.take("@")
        attr = self.name()
        if attr not in ATTRIBUTES:
            raise self.fail("expected @Name or @Value")
        self.pos += len(attr)
        self.take("=")
        self.skip()
        quote = self.text[self.pos : self.pos + 1]
        if quote not in ('"', "'"):
            raise self.fail("expected a quoted string")
        end = self.text.find(quote, self.pos + 1)
        if end < 0:
            raise self.fail("unterminated string")
        value, self.pos = self.text[self.pos + 1 : end], end + 1
        return Attr(attr, value)


def parse_item_filter(text: str, nsmap: Mapping[str | None, str]) -> ItemExpr:
    """Parse ``text`` with the in-scope namespaces ``nsmap``; a ``SoapFault`` on any error."""
    if len(text) > MAX_LENGTH:
        raise faults.invalid_message_content_expression(
            f"ItemFilter expression of {len(text)} characters; at most {MAX_LENGTH} accepted"
        )
    parser = _Parser(text, nsmap)
    expr = parser.expression(False)
    parser.skip()
    if parser.pos != len(text):
        raise parser.fail("unexpected text")
    return expr


@functools.lru_cache(maxsize=1024)
def parse_normalised(text: str) -> ItemExpr:
    """Parse text produced by :func:`normalise` (cached: it is re-read for every resource tested)."""
    return parse_item_filter(text, CANONICAL_NSMAP)


_PRECEDENCE = {Or: 1, And: 2}


def _operand(expr: Expr, parent: int, right: bool) -> str:
    """Parenthesise where needed so the text parses back to the same tree."""
    own = _PRECEDENCE.get(type(expr), 3)
    text = normalise(expr)
    return f"({text})" if own < parent or (right and own == parent) else text


def normalise(expr: Expr) -> str:
    """The canonical text of ``expr``: single spaces, ``tt:`` prefix, double quotes where possible."""
    if isinstance(expr, Attr):
        quote = "'" if '"' in expr.value else '"'
        return f"@{expr.name}={quote}{expr.value}{quote}"
    if isinstance(expr, ItemTest):
        return f"boolean(//tt:{expr.kind}[{normalise(expr.condition)}])"
    if isinstance(expr, Not):
        return f"not({normalise(expr.operand)})"
    own = _PRECEDENCE[type(expr)]
    keyword = "and" if isinstance(expr, And) else "or"
    return f"{_operand(expr.left, own, False)} {keyword} {_operand(expr.right, own, True)}"


def _truth(expr: Expr, leaf: Callable[[Expr], bool]) -> bool:
    if isinstance(expr, And):
        return _truth(expr.left, leaf) and _truth(expr.right, leaf)
    if isinstance(expr, Or):
        return _truth(expr.left, leaf) or _truth(expr.right, leaf)
    if isinstance(expr, Not):
        return not _truth(expr.operand, leaf)
    return leaf(expr)


def evaluate(expr: ItemExpr, simple_items: Iterable[tuple[str, str]], element_items: Iterable[str]) -> bool:
    """Whether a message with these items (``(Name, Value)`` pairs; ElementItem names) passes.

    An ElementItem has no ``@Value``, so ``@Value=...`` is false for it (XPath:
    comparing an empty node-set is false).
    """
    candidates: dict[str, list[dict[str, str]]] = {
        "SimpleItem": [{"Name": n, "Value": v} for n, v in simple_items],
        "ElementItem": [{"Name": n} for n in element_items],
    }

    def holds(condition: Expr, attrs: dict[str, str]) -> bool:
        return _truth(condition, lambda a: isinstance(a, Attr) and attrs.get(a.name) == a.value)

    def item(test: Expr) -> bool:
        return isinstance(test, ItemTest) and any(holds(test.condition, c) for c in candidates[test.kind])

    return _truth(expr, item)
