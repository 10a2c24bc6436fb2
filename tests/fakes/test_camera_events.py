"""The fake camera's event service: a reconfiguration reaches pull points as tns1:Media/ProfileChanged."""
from __future__ import annotations

from pathlib import Path

import pytest
import zeep.exceptions

from tests.conformance.schemas import assert_valid_envelope
from tests.fakes.camera.client import CameraClient
from tests.fakes.camera.fixture import start_camera
from tests.fakes.conftest import PASSWORD, USER

TEV = "http://www.onvif.org/ver10/events/wsdl"
WSA = "http://www.w3.org/2005/08/addressing"
WSNT = "http://docs.oasis-open.org/wsn/b-2"
TT = "http://www.onvif.org/ver10/schema"


def test_profile_changes_reach_a_pull_point(tmp_path: Path) -> None:
    with start_camera(tmp_path, user=USER, password=PASSWORD, profiles=2) as cam:
        client = CameraClient(cam.base, USER, PASSWORD)
        created = client.answer("events", "CreatePullPointSubscription", InitialTerminationTime="PT60S")
        address = str(created.findtext(f"{{{TEV}}}SubscriptionReference/{{{WSA}}}Address"))
        assert address.startswith(cam.base + "/onvif/event_service/pullpoint/")
        pull_point = client.client("events").create_service(
            "{http://www.onvif.org/ver10/events/wsdl}PullPointSubscriptionBinding", address)

        def pull(timeout: str) -> list[tuple[str, str]]:
            client.capture.last = None
            pull_point.PullMessages(Timeout=timeout, MessageLimit=10)
            body = assert_valid_envelope(client.capture.last)
            return [(str(n.findtext(f"{{{WSNT}}}Topic")),
                     str(n.find(f".//{{{TT}}}SimpleItem[@Name='Token']").get("Value")))
                    for n in body.iterfind(f"{{{WSNT}}}NotificationMessage")]

        assert pull("PT0S") == []
        cam.set_profiles(3)
        assert pull("PT5S") == [("tns1:Media/ProfileChanged", "Profile_3")]
        assert [p.get("token") for p in client.answer("media2", "GetProfiles")] == ["Profile_1", "Profile_2",
                                                                                    "Profile_3"]
        cam.set_profiles(1)
        assert pull("PT5S") == [("tns1:Media/ProfileChanged", "Profile_2"), ("tns1:Media/ProfileChanged", "Profile_3")]
        client.client("events").create_service(
            "{http://www.onvif.org/ver10/events/wsdl}SubscriptionManagerBinding", address).Unsubscribe()
        with pytest.raises(zeep.exceptions.Fault):
            pull_point.PullMessages(Timeout="PT0S", MessageLimit=10)
