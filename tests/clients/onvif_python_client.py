"""onvif-python as its users drive it, run as ``python onvif_python_client.py HOST PORT USER LAT LON RADIUS``.

Its own process: ``ONVIFClient`` patches zeep's ``xsd:any`` parsing for the
whole interpreter, which must not leak into the other suites.  The password
comes on stdin; the result is one JSON document on stdout (see events.py).
"""
from __future__ import annotations

import json
import sys

from lxml import etree
from onvif import ONVIFClient, ONVIFParser

from tests.clients.events import TT, WSNT, filter_elements, typed_event


def main(host: str, port: str, user: str, lat: str, lon: str, radius: str) -> None:
    password = sys.stdin.readline().rstrip("\n")
    # zeep drops the text of wsnt:Topic (mixed content in b-2.xsd): the library's own parser plugin reads it.
    topics = ONVIFParser({"topic": f".//{{{WSNT}}}Topic"})
    client = ONVIFClient(host, int(port), user, password, plugins=[topics])  # GetServices on construction
    device = client.devicemgmt()
    connect = {
        "year": device.GetSystemDateAndTime().UTCDateTime.Date.Year,
        "events_xaddr": device.GetCapabilities(Category="All").Events.XAddr,
        "services": sorted(s.Namespace for s in client.services),
    }
    subscription = client.events().CreatePullPointSubscription(
        Filter={"_value_1": filter_elements(float(lat), float(lon), float(radius))}, InitialTerminationTime="PT60S")
    pull_point = client.pullpoint(subscription)
    # tt:Message is an xsd:any payload: onvif-python hands it over as an lxml element (its flattened dict keeps
    # one SimpleItem per name), so it is parsed with the official schema the device client already loaded.
    schema = device.operator.client.wsdl.types
    message_type = schema.get_element(etree.QName(TT, "Message"))
    events = []
    while True:
        reply = pull_point.PullMessages(Timeout="PT0S", MessageLimit=100)
        notes = reply.NotificationMessage or []
        if not notes:
            break
        for note, topic in zip(notes, topics.get_extracted_texts("topic", len(notes)), strict=True):
            message = message_type.parse(note.Message._value_1[0], schema)
            events.append(typed_event(topic, message))
    pull_point.Unsubscribe()
    json.dump({"connect": connect, "events": events}, sys.stdout)


if __name__ == "__main__":
    main(*sys.argv[1:])
