"""Where an ONVIF Media, Media2 or PTZ message carries tokens, found and rewritten in place (docs/wire-format.md §10.1).

A token is any ``token`` attribute (a ``tt:ReferenceToken`` on profiles,
configurations, sources, nodes …) and the text of any element whose local
name is ``Token`` or ends in ``Token`` (``ProfileToken``, ``SourceToken``,
``NodeToken``, ``OutputToken``, ``ConfigurationToken`` …): the schemas name
every reference that way, so one rule covers every configuration kind,
including those added after this was written.  Preset and preset tour tokens
are scoped to their profile and travel unchanged (docs/wire-format.md §10.1).

The element tree is changed in place, never rebuilt: order, unknown
extensions and namespace declarations stay exactly as the segment sent them.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from lxml import etree

from gateway.onvif import faults
from gateway.soap.fault import SoapFault

#: Tokens that name something inside a profile, not on the device: never adapted.
PROFILE_SCOPED = frozenset({"PresetToken", "PresetTourToken"})
_SCOPED_HOLDERS = frozenset({"Preset", "PresetTour"})

#: The ``ter:`` subcode a device gives for an unknown token, by the element that carried it.
_UNKNOWN = {
    "ProfileToken": "NoProfile",
    "Token": "NoProfile",
    "ConfigurationToken": "NoConfig",
    "PTZConfigurationToken": "NoConfig",
    "NodeToken": "NoEntity",
    "VideoSourceToken": "NoVideoSource",
    "SourceToken": "NoSource",
}


@dataclass(frozen=True)
class Site:
    """One token in a message: an element's text, or one of its attributes."""

    element: etree._Element
    attribute: str | None  # None: the element's text

    @property
    def name(self) -> str:
        """The local name that says what the token is (``ProfileToken``, ``Profiles@token`` …)."""
        local = etree.QName(self.element).localname
        return local if self.attribute is None else f"{local}@{self.attribute}"

    @property
    def value(self) -> str:
        if self.attribute is None:
            return (self.element.text or "").strip()
        return str(self.element.get(self.attribute, "")).strip()

    def set(self, value: str) -> None:
        if self.attribute is None:
            self.element.text = value
        else:
            self.element.set(self.attribute, value)


def sites(root: etree._Element) -> Iterator[Site]:
    """Every adaptable token below and at ``root``, document order; empty values are skipped."""
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        local = etree.QName(el).localname
        token = el.get("token")
        if token is not None and token.strip() and local not in _SCOPED_HOLDERS:
            yield Site(el, "token")
        if (local == "Token" or local.endswith("Token")) and local not in PROFILE_SCOPED and len(el) == 0 \
                and (el.text or "").strip():
            yield Site(el, None)


def rewrite(found: list[Site], mapping: Callable[[str], str]) -> None:
    """Replace each site's value by ``mapping(value)``."""
    for site in found:
        site.set(mapping(site.value))


def unknown_token(site_name: str, reason: str) -> SoapFault:
    """The fault a device gives for a token it does not know, chosen by the element that carried it."""
    return faults.invalid_arg_val(_UNKNOWN.get(site_name, "NoToken"), reason)
