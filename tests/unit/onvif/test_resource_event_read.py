"""The client's lenient reader of PullMessages replies."""
from __future__ import annotations

from lxml import etree

from gateway.onvif.ns import TNS1, TT, WSNT
from gateway.onvif.resource_event.read import parse_notifications
from gateway.vocabulary.resource import Operation, Resource

TOKEN = "32010001071321008015:Profile_1"


PULL_RESPONSE = f"""
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tev="http://www.onvif.org/ver10/events/wsdl"
            xmlns:wsnt="{WSNT}" xmlns:tt="{TT}" xmlns:ns9="{TNS1}">
  <s:Body>
    <tev:PullMessagesResponse>
      <tev:CurrentTime>2026-03-01T08:15:02Z</tev:CurrentTime>
      <tev:TerminationTime>2026-03-01T08:16:02Z</tev:TerminationTime>
      <wsnt:NotificationMessage>
        <wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">ns9:Resource/MediaProfile</wsnt:Topic>
        <wsnt:Message>
          <tt:Message UtcTime="2026-03-01T08:15:02.120Z" PropertyOperation="Initialized">
            <tt:Source><tt:SimpleItem Name="Token" Value="{TOKEN}"/></tt:Source>
            <tt:Data>
              <tt:SimpleItem Name="Name" Value="Line 1 / Station 10 / Gate 8 - main"/>
              <tt:ElementItem Name="Location">
                <tt:GeoLocation lon="118.7969" lat="32.0603" elevation="12.5"/>
              </tt:ElementItem>
              <tt:SimpleItem Name="Scope" Value="onvif://www.onvif.org/location/city/nanjing"/>
              <tt:SimpleItem Name="Scope" Value="onvif://www.onvif.org/name/Gate8"/>
              <tt:SimpleItem Name="Offline" Value="false"/>
            </tt:Data>
          </tt:Message>
        </wsnt:Message>
      </wsnt:NotificationMessage>
      <wsnt:NotificationMessage>
        <wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">ns9:Resource/VideoSource</wsnt:Topic>
        <wsnt:Message>
          <tt:Message UtcTime="2026-03-01T09:00:00Z" PropertyOperation="Changed">
            <tt:Source><tt:SimpleItem Name="Token" Value="32010001071321008015:VS_1"/></tt:Source>
            <tt:Data><tt:SimpleItem Name="Offline" Value="true"/></tt:Data>
          </tt:Message>
        </wsnt:Message>
      </wsnt:NotificationMessage>
      <wsnt:NotificationMessage>
        <wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">ns9:Resource/Recording</wsnt:Topic>
        <wsnt:Message>
          <tt:Message UtcTime="2026-03-01T10:00:00Z" PropertyOperation="Deleted">
            <tt:Source><tt:SimpleItem Name="Token" Value="32010001071321008015:Rec_1"/></tt:Source>
          </tt:Message>
        </wsnt:Message>
      </wsnt:NotificationMessage>
      <wsnt:NotificationMessage>
        <wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">ns9:VideoSource/MotionAlarm</wsnt:Topic>
        <wsnt:Message><tt:Message UtcTime="2026-03-01T10:00:00Z"><tt:Source/></tt:Message></wsnt:Message>
      </wsnt:NotificationMessage>
    </tev:PullMessagesResponse>
  </s:Body>
</s:Envelope>"""


def test_parse_sample_pull_response() -> None:
    notes = parse_notifications(etree.fromstring(PULL_RESPONSE.encode()))
    assert [(n.operation, n.resource.kind) for n in notes] == [
        (Operation.INITIALIZED, "MediaProfile"), (Operation.CHANGED, "VideoSource"), (Operation.DELETED, "Recording"),
    ]  # the non-resource MotionAlarm event is not a resource
    assert notes[0].resource == Resource(
        token=TOKEN, kind="MediaProfile", name="Line 1 / Station 10 / Gate 8 - main",
        lat=32.0603, lon=118.7969, elevation=12.5,
        scopes=("onvif://www.onvif.org/location/city/nanjing", "onvif://www.onvif.org/name/Gate8"), offline=False,
    )  # fmt: skip
    assert notes[1].resource == Resource(token="32010001071321008015:VS_1", kind="VideoSource", offline=True)
    assert notes[2].resource.name is None and notes[2].resource.scopes == ()


def test_parse_empty_pull_response() -> None:
    empty = PULL_RESPONSE.split("<wsnt:NotificationMessage>")[0] + "</tev:PullMessagesResponse></s:Body></s:Envelope>"
    assert parse_notifications(etree.fromstring(empty.encode())) == []
