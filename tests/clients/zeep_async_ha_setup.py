"""Home Assistant's ONVIF setup, as its integration runs it through onvif-zeep-async (homeassistant/components/onvif).

Run with the interpreter of its own virtualenv (``zeep_async/.venv``, see tests/clients/test_clients.py).
Arguments ``HOST PORT USER``, the password on stdin; one JSON document on stdout: what Home Assistant would
configure (its profiles with encoding and resolution, stream URIs, whether a snapshot came, PTZ presets).
The sequence: connect (GetSystemDateAndTime, GetServices), device information and network interfaces,
capabilities (GetCapabilities; Media GetServiceCapabilities for snapshots; PTZ GetServiceCapabilities),
GetProfiles (ver10), keeping H.264 profiles; per profile GetStreamUri (RTP-Unicast over RTSP), the snapshot
(GetSnapshotUri, then the JPEG by HTTP Digest) and, with a PTZ configuration, GetConfigurationOptions and
GetPresets.  A step Home Assistant tolerates failing is recorded, not raised.
"""
from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from onvif import ONVIFCamera


async def main(host: str, port: str, user: str) -> None:
    camera = ONVIFCamera(host, int(port), user, sys.stdin.readline().rstrip("\n"))
    result: dict[str, Any] = {"tolerated": []}
    try:
        await camera.update_xaddrs()
        device = await camera.create_devicemgmt_service()
        await device.GetSystemDateAndTime()
        info = await device.GetDeviceInformation()
        result["manufacturer"] = info.Manufacturer
        try:
            await device.GetNetworkInterfaces()
        except Exception as error:  # Home Assistant falls back to the serial number
            result["tolerated"].append(f"GetNetworkInterfaces: {error}")
        capabilities = await camera.get_capabilities()
        result["capabilities"] = sorted(k for k, v in (capabilities or {}).items() if v)
        media = await camera.create_media_service()
        media_caps = await media.GetServiceCapabilities()
        result["snapshot_capable"] = bool(media_caps and media_caps.SnapshotUri)
        ptz = None
        try:
            ptz = await camera.create_ptz_service()
            await ptz.GetServiceCapabilities()
        except Exception as error:
            result["tolerated"].append(f"PTZ: {error}")
        profiles = []
        for profile in await media.GetProfiles():
            encoder = profile.VideoEncoderConfiguration
            if encoder is None or encoder.Encoding != "H264":
                continue
            item: dict[str, Any] = {"token": profile.token, "name": profile.Name,
                                    "size": [encoder.Resolution.Width, encoder.Resolution.Height]}
            request = media.create_type("GetStreamUri")
            request.ProfileToken = profile.token
            request.StreamSetup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
            item["stream_uri"] = (await media.GetStreamUri(request)).Uri
            snapshot = await camera.get_snapshot(profile.token) if result["snapshot_capable"] else None
            item["snapshot"] = snapshot[:3].hex() if snapshot else None
            if ptz is not None and profile.PTZConfiguration is not None:
                await ptz.GetConfigurationOptions({"ConfigurationToken": profile.PTZConfiguration.token})
                presets = await ptz.GetPresets({"ProfileToken": profile.token})
                item["presets"] = [p.token for p in presets or []]
            profiles.append(item)
        result["profiles"] = profiles
    finally:
        await camera.close()
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
