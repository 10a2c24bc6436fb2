"""The validator itself: it must reject what the official schemas reject, or the suite proves nothing."""
from __future__ import annotations

import pytest
import xmlschema
from lxml import etree

from tests.conformance.schemas import (
    SchemaViolation,
    assert_valid,
    assert_valid_as,
    assert_valid_envelope,
    assert_valid_filter,
    inline_schemas,
    onvif_wsdl_dir,
)

TT = "http://www.onvif.org/ver10/schema"
ENV = "http://www.w3.org/2003/05/soap-envelope"


def message(data: str, utc: str = "2024-01-01T00:00:00Z") -> etree._Element:
    return etree.fromstring(
        f'<tt:Message xmlns:tt="{TT}" UtcTime="{utc}" PropertyOperation="Initialized">'
        '<tt:Source><tt:SimpleItem Name="Token" Value="a"/></tt:Source>'
        f'<tt:Data>{data}</tt:Data></tt:Message>')


NAME = '<tt:SimpleItem Name="Name" Value="Gate 8"/>'
SCOPE = '<tt:SimpleItem Name="Scope" Value="onvif://www.onvif.org/name/Gate8"/>'
LOCATION = ('<tt:ElementItem Name="Location"><tt:GeoLocation lon="118.79" lat="32.06" elevation="12.5"/>'
            '</tt:ElementItem>')


def envelope(body: str) -> bytes:
    return f'<env:Envelope xmlns:env="{ENV}" xmlns:tt="{TT}"><env:Body>{body}</env:Body></env:Envelope>'.encode()


def test_the_schema_set_holds_every_service_message(onvif_schemas: xmlschema.XMLSchema11) -> None:
    for tag in ("{http://www.onvif.org/ver10/device/wsdl}GetServicesResponse",
                "{http://www.onvif.org/ver10/events/wsdl}PullMessagesResponse",
                "{http://www.onvif.org/ver10/uplink/wsdl}GetUplinksResponse",
                "{http://docs.oasis-open.org/wsn/b-2}InvalidFilterFault",
                "{http://docs.oasis-open.org/wsrf/r-2}ResourceUnknownFault",
                f"{{{ENV}}}Envelope"):
        assert tag in onvif_schemas.maps.elements, tag


def test_inline_schemas_point_their_imports_at_the_installed_files() -> None:
    (schema,) = inline_schemas(onvif_wsdl_dir() / "ver10/uplink/wsdl/uplink.wsdl")
    assert (onvif_wsdl_dir() / "ver10/schema/onvif.xsd").resolve().as_uri() in schema


def test_simple_items_before_element_items_is_valid() -> None:
    assert_valid(message(NAME + SCOPE + LOCATION))


def test_an_element_item_before_a_simple_item_is_rejected_with_its_path() -> None:
    with pytest.raises(SchemaViolation, match=r"/tt:Message/tt:Data: Unexpected child with tag 'tt:SimpleItem'"):
        assert_valid(message(NAME + LOCATION + SCOPE))


def test_a_bad_attribute_value_is_rejected() -> None:
    with pytest.raises(SchemaViolation, match="UtcTime"):
        assert_valid(message(NAME, utc="yesterday"))


def test_an_undeclared_element_is_rejected() -> None:
    with pytest.raises(SchemaViolation, match="no global element"):
        assert_valid(etree.fromstring('<x:Unknown xmlns:x="urn:example"/>'))


def test_the_body_is_checked_strictly_not_laxly() -> None:
    """The envelope schema's lax wildcard accepts an undeclared body element; the helper must not."""
    unknown = envelope('<x:Unknown xmlns:x="urn:example"/>')
    assert_valid(etree.fromstring(unknown))  # what the envelope schema alone would accept
    with pytest.raises(SchemaViolation, match="no global element"):
        assert_valid_envelope(unknown)


def test_an_invalid_body_element_fails_the_envelope() -> None:
    with pytest.raises(SchemaViolation, match="Unexpected child"):
        assert_valid_envelope(envelope(etree.tostring(message(LOCATION + NAME)).decode()))


def test_fault_detail_children_are_checked() -> None:
    fault = ('<env:Fault><env:Code><env:Value>env:Sender</env:Value></env:Code>'
             '<env:Reason><env:Text xml:lang="en">bad filter</env:Text></env:Reason>'
             '<env:Detail><wsnt:InvalidFilterFault xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2">{}'
             '</wsnt:InvalidFilterFault></env:Detail></env:Fault>')
    good = ('<wsrf-bf:Timestamp xmlns:wsrf-bf="http://docs.oasis-open.org/wsrf/bf-2">2024-01-01T00:00:00Z'
            '</wsrf-bf:Timestamp><wsnt:UnknownFilter>tt:Bogus</wsnt:UnknownFilter>')
    assert_valid_envelope(envelope(fault.format(good)))
    with pytest.raises(SchemaViolation, match="InvalidFilterFault"):
        assert_valid_envelope(envelope(fault.format("")))  # Timestamp and UnknownFilter are required


def test_the_filter_schema_validates_filter_elements() -> None:
    assert_valid_filter(etree.fromstring(f'<tt:PrefixFilter xmlns:tt="{TT}"><tt:Prefix>3201</tt:Prefix>'
                                         '</tt:PrefixFilter>'))
    with pytest.raises(SchemaViolation, match="Prefix"):
        assert_valid_filter(etree.fromstring(f'<tt:PrefixFilter xmlns:tt="{TT}"/>'))


def test_a_qname_with_an_undeclared_prefix_is_rejected() -> None:
    """Prefixes declared on the envelope count for a detail element; a prefix declared nowhere does not."""
    detail = etree.fromstring(
        '<wsnt:InvalidFilterFault xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2">'
        '<wsrf-bf:Timestamp xmlns:wsrf-bf="http://docs.oasis-open.org/wsrf/bf-2">2024-01-01T00:00:00Z'
        '</wsrf-bf:Timestamp><wsnt:UnknownFilter>nowhere:Bogus</wsnt:UnknownFilter></wsnt:InvalidFilterFault>')
    with pytest.raises(SchemaViolation, match="unmapped prefix 'nowhere'"):
        assert_valid(detail)


def test_a_message_description_is_checked_against_its_type() -> None:
    """Inside a TopicSet no declaration covers tt:MessageDescription; its type still orders the items."""
    def description(data: str) -> etree._Element:
        return etree.fromstring(
            f'<tt:MessageDescription xmlns:tt="{TT}" xmlns:xs="http://www.w3.org/2001/XMLSchema" IsProperty="true">'
            '<tt:Source><tt:SimpleItemDescription Name="Token" Type="tt:ReferenceToken"/></tt:Source>'
            f'<tt:Data>{data}</tt:Data></tt:MessageDescription>')

    name = '<tt:SimpleItemDescription Name="Name" Type="xs:string"/>'
    location = '<tt:ElementItemDescription Name="Location" Type="tt:GeoLocation"/>'
    assert_valid_as(description(name + location), f"{{{TT}}}MessageDescription")
    with pytest.raises(SchemaViolation, match="Unexpected child"):
        assert_valid_as(description(location + name), f"{{{TT}}}MessageDescription")
    with pytest.raises(SchemaViolation, match="no global type"):
        assert_valid_as(description(name), f"{{{TT}}}NoSuchType")
