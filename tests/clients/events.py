"""What the client scripts share: the subscription's filter and the reading of a typed tt:Message.

``typed_event`` reads zeep's objects built from the official onvif.xsd
(``Source.SimpleItem``, ``Data.SimpleItem``, ``Data.ElementItem``), never
the XML, so an item a schema-driven parser drops is missing from its result.
"""
from __future__ import annotations

from typing import Any

from lxml import etree

TT = "http://www.onvif.org/ver10/schema"
WSNT = "http://docs.oasis-open.org/wsn/b-2"
TNS1 = "http://www.onvif.org/ver10/topics"
CONCRETE_SET = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"
TOPIC = "tns1:Resource//."


def filter_elements(lat: float, lon: float, radius: float) -> list[etree._Element]:
    """A topic expression and a LocationFilter, as plain lxml elements (how zeep takes xsd:any content)."""
    topic = etree.Element(f"{{{WSNT}}}TopicExpression", Dialect=CONCRETE_SET, nsmap={"wsnt": WSNT, "tns1": TNS1})
    topic.text = TOPIC
    location = etree.Element(f"{{{TT}}}LocationFilter", nsmap={"tt": TT})
    for tag, value in (("lon", lon), ("lat", lat), ("radius", radius)):
        etree.SubElement(location, f"{{{TT}}}{tag}").text = repr(value)
    return [topic, location]


def _geo(item: Any) -> dict[str, float | None]:
    """The tt:GeoLocation of a Location ElementItem: zeep keeps xsd:any content as an element, onvif-python's
    patch as a dict."""
    content = item._value_1
    if isinstance(content, dict):
        geo = content["GeoLocation"]
        return {k: (float(geo[k]) if geo.get(k) is not None else None) for k in ("lon", "lat", "elevation")}
    geo = content if etree.QName(content).localname == "GeoLocation" else content[0]
    return {k: (float(geo.get(k)) if geo.get(k) is not None else None) for k in ("lon", "lat", "elevation")}


def typed_event(topic: str | None, message: Any) -> dict[str, Any]:
    """One event as JSON, from a zeep-parsed tt:Message."""
    source = {i.Name: i.Value for i in message.Source.SimpleItem}
    data = message.Data.SimpleItem if message.Data is not None else []
    elements = message.Data.ElementItem if message.Data is not None else []
    offline = [i.Value for i in data if i.Name == "Offline"]
    names = [i.Value for i in data if i.Name == "Name"]
    location = [_geo(i) for i in elements if i.Name == "Location"]
    return {
        "topic": topic,
        "operation": message.PropertyOperation,
        "token": source["Token"],
        "name": names[0] if names else None,
        "scopes": [i.Value for i in data if i.Name == "Scope"],
        "offline": offline[0] if offline else None,
        "location": location[0] if location else None,
    }
