"""Resource topics ``tns1:Resource/<kind>``: reading topic expressions, declaring the topic set.

A subscription's ``wsnt:TopicExpression`` is reduced to the set of resource
kinds it selects (``None`` = every kind).  Two dialects are served, both
mandatory in ONVIF (docs/wire-format.md §1.3, §5.2):

- Concrete: one path ``RootQName ('/' Child)*``;
- ConcreteSet: ``Path ('|' Path)*``, each path optionally ending in ``//.``
  (the node and all its descendants).

The root's prefix is resolved through the in-scope namespaces of the element
that carried the expression, never by its spelling (docs/wire-format.md §1.3).  An expression
that is well-formed but names no topic the gateway serves is
``TopicNotSupportedFault``; a path set is accepted when at least one of its
paths selects resource topics, keeping that resource part.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from lxml import etree

from gateway.onvif import faults
from gateway.onvif.ns import DIALECT_CONCRETE, DIALECT_CONCRETE_SET, TNS1, TT, WSTOP, XS
from gateway.onvif.resource_event import MESSAGE_DESCRIPTION, ROOT, topic_text
from gateway.vocabulary.resource import RESOURCE_KINDS

SUBTREE = "//."  # ConcreteSet: this node and all its descendants (docs/wire-format.md §5.2)
ALTERNATIVE = "|"

_QNAME = re.compile(r"(?:(?P<prefix>[^\W\d][\w.\-]*):)?(?P<local>[^\W\d][\w.\-]*)")
_KINDS = frozenset(RESOURCE_KINDS)

#: A selection of resource kinds: ``None`` is every kind, an empty set is none.
Kinds = frozenset[str] | None


def _path_kinds(path: str, nsmap: Mapping[str | None, str], expression: str) -> Kinds:
    """The kinds one path selects (``frozenset()`` if it is well-formed but not a resource topic)."""
    steps = path.removesuffix(SUBTREE).split("/")
    namespaces: list[str | None] = []
    for step in steps:
        m = _QNAME.fullmatch(step)
        if m is None:
            raise faults.invalid_topic_expression(f"topic expression {expression!r}: {step!r} is not a topic name")
        prefix = m["prefix"]
        if prefix is not None and prefix not in nsmap:
            raise faults.invalid_topic_expression(
                f"topic expression {expression!r}: namespace prefix {prefix!r} is not declared"
            )
        namespaces.append(nsmap.get(prefix))
    root, children = steps[0], steps[1:]
    if namespaces[0] != TNS1 or root.rpartition(":")[2] != ROOT:
        return frozenset()
    if not children:
        return None  # tns1:Resource and tns1:Resource//. both select every resource topic
    # Resource topics are unqualified children, one level deep (docs/wire-format.md §4.4).
    if len(children) == 1 and ":" not in children[0] and children[0] in _KINDS:
        return frozenset(children)
    return frozenset()


def parse_topic_expression(dialect: str, text: str, nsmap: Mapping[str | None, str]) -> Kinds:
    """The resource kinds a ``wsnt:TopicExpression`` selects; a ``SoapFault`` if it cannot be served."""
    dialect = dialect.strip()
    if dialect not in (DIALECT_CONCRETE, DIALECT_CONCRETE_SET):
        what = f"topic expression dialect {dialect!r}" if dialect else "a topic expression without Dialect"
        raise faults.topic_expression_dialect_unknown(
            f"{what} is not supported; use {DIALECT_CONCRETE} or {DIALECT_CONCRETE_SET}"
        )
    expression = text.strip()
    if dialect == DIALECT_CONCRETE:
        if ALTERNATIVE in expression or "//" in expression:
            raise faults.invalid_topic_expression(
                f"topic expression {expression!r}: '|' and '//.' need the ConcreteSet dialect"
            )
        paths = [expression]
    else:
        paths = [p.strip() for p in expression.split(ALTERNATIVE)]
    selected: set[str] = set()
    every = False
    for path in paths:
        if "//" in path.removesuffix(SUBTREE):
            raise faults.invalid_topic_expression(f"topic expression {expression!r}: '//.' may only end a path")
        kinds = _path_kinds(path, nsmap, expression)
        if kinds is None:
            every = True
        else:
            selected |= kinds
    if every:
        return None
    if not selected:
        raise faults.topic_not_supported(
            f"topic expression {expression!r} selects no topic this gateway serves (tns1:{ROOT}/<kind>)"
        )
    return frozenset(selected)


def intersect_kinds(selections: Iterable[Kinds]) -> Kinds:
    """Several TopicExpressions in one filter AND together (docs/wire-format.md §5.1): the kinds all select."""
    result: Kinds = None
    for kinds in selections:
        if kinds is not None:
            result = kinds if result is None else result & kinds
    return result


def topic_set(kinds: Iterable[str]) -> etree._Element:
    """The ``wstop:TopicSet`` of GetEventPropertiesResponse declaring ``kinds`` (docs/wire-format.md §4.4).

    ``xmlns=""`` is declared so the unqualified child topics have no namespace
    wherever the set is embedded; ``tt``/``xs`` are declared for the Type QNames.
    """
    root = etree.Element(f"{{{WSTOP}}}TopicSet", nsmap={None: "", "wstop": WSTOP, "tns1": TNS1, "tt": TT, "xs": XS})
    resource = etree.SubElement(root, f"{{{TNS1}}}{ROOT}")
    for kind in kinds:
        topic_text(kind)  # refuses kinds the gateway does not serve
        leaf = etree.SubElement(resource, kind, {f"{{{WSTOP}}}topic": "true"})
        description = etree.SubElement(leaf, f"{{{TT}}}MessageDescription", IsProperty="true")
        groups: dict[str, etree._Element] = {}
        for group, item, name, type_ in MESSAGE_DESCRIPTION:
            if group not in groups:
                groups[group] = etree.SubElement(description, f"{{{TT}}}{group}")
            etree.SubElement(groups[group], f"{{{TT}}}{item}", Name=name, Type=type_)
    return root
