"""onvif-zeep-async (Home Assistant's ONVIF library) as Home Assistant drives it.

Run with the interpreter of its own virtualenv (``zeep_async/.venv``): the
library installs a top-level package ``onvif`` that would overwrite
onvif-python's, so the two cannot share an environment.  Arguments
``HOST PORT USER LAT LON RADIUS``, the password on stdin, one JSON document
on stdout (see events.py).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys

from onvif import ONVIFCamera
from onvif.util import normalize_url

from tests.clients.events import filter_elements, typed_event

PULL_POINT_XADDR = "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription"


async def main(host: str, port: str, user: str, lat: str, lon: str, radius: str) -> None:
    camera = ONVIFCamera(host, int(port), user, sys.stdin.readline().rstrip("\n"))
    try:
        await camera.update_xaddrs()  # GetSystemDateAndTime, then GetServices (GetCapabilities only as fallback)
        device = await camera.create_devicemgmt_service()
        capabilities = await camera.get_capabilities()
        connect = {
            "year": (await device.GetSystemDateAndTime()).UTCDateTime.Date.Year,
            "events_xaddr": capabilities["Events"]["XAddr"] if capabilities else None,
            "services": sorted(ns for ns in camera.xaddrs if ns.startswith("http://www.onvif.org/")),
            "version": (await device.GetDeviceInformation()).FirmwareVersion,
        }
        events_service = await camera.create_events_service()
        # Home Assistant's PullPointManager subscribes without a filter; a Resource Query needs one, so the
        # subscription is created as the manager creates it, with the Filter added.
        result = await events_service.CreatePullPointSubscription({
            "Filter": {"_value_1": filter_elements(float(lat), float(lon), float(radius))},
            "InitialTerminationTime": camera.get_next_termination_time(dt.timedelta(seconds=60)),
        })
        camera.xaddrs[PULL_POINT_XADDR] = camera.rewrite_url(
            normalize_url(result.SubscriptionReference.Address._value_1))
        pull_point = await camera.create_pullpoint_service()
        events = []
        while True:
            reply = await pull_point.PullMessages({"Timeout": dt.timedelta(seconds=0), "MessageLimit": 100})
            if not reply.NotificationMessage:
                break
            for note in reply.NotificationMessage:
                topic = note.Topic._value_1  # this library's zeep keeps the topic text here
                events.append(typed_event(topic, note.Message._value_1))
        subscription = await camera.create_subscription_service("PullPointSubscription")
        await subscription.Unsubscribe()
        json.dump({"connect": connect, "events": events}, sys.stdout)
    finally:
        await camera.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
