"""``python -m tests.fakes.camera``: a fake ONVIF camera (device, Media2, Media, PTZ, events, snapshots, RTSP).

Prints ``camera: rtsp on rtsp://HOST:PORT`` and then, once it serves, ``camera: serving on
http://HOST:PORT/onvif/device_service``. With ``--control`` it reads commands on stdin (control.py) and ends at
the end of stdin; otherwise it runs until SIGTERM or SIGINT.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import tempfile
import threading
from pathlib import Path

from tests.fakes.camera.control import PREFIX, command
from tests.fakes.camera.model import Device, Options
from tests.fakes.camera.rtsp import RtspSource
from tests.fakes.camera.security import Account
from tests.fakes.camera.server import CameraServer
from tests.fakes.camera.snapshot import make_snapshots


def _location(text: str) -> tuple[float, float, float | None]:
    parts = [float(p) for p in text.split(",")]
    if len(parts) not in (2, 3) or not (-90 <= parts[0] <= 90 and -180 <= parts[1] <= 180):
        raise argparse.ArgumentTypeError("LAT,LON[,ELEVATION] in degrees (and metres)")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None


def _account(text: str) -> tuple[str, str]:
    name, sep, password = text.partition(":")
    if not sep or not name:
        raise argparse.ArgumentTypeError("NAME:PASSWORD")
    return name, password


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.fakes.camera", description=__doc__.split("\n", 1)[0])
    p.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT of the web services (port 0: any)")
    p.add_argument("--port", type=int, help="shorthand for --listen 127.0.0.1:PORT")
    p.add_argument("--advertise", help="the host written into XAddrs and URIs (default: the listen host)")
    p.add_argument("--user", help="the Administrator account (no --user: no authentication at all)")
    p.add_argument("--password", default="")
    p.add_argument("--viewer", type=_account, help="NAME:PASSWORD of a User-level account (may not move PTZ)")
    p.add_argument("--auth", choices=("ws", "digest", "both"), default="both",
                   help="WS-UsernameToken digest, HTTP Digest, or either (default)")
    p.add_argument("--profiles", type=int, default=2, choices=range(1, 17), metavar="N")
    p.add_argument("--no-media1", dest="media1", action="store_false", help="no Media ver10 service")
    p.add_argument("--no-media2", dest="media2", action="store_false", help="no Media2 service")
    p.add_argument("--no-events", dest="events", action="store_false", help="no event service")
    p.add_argument("--ptz", action="store_true", help="a PTZ service, its configuration on every profile")
    p.add_argument("--ptz-profiles", type=int, metavar="N", help="with --ptz: only the first N profiles carry PTZ")
    p.add_argument("--manufacturer", default=Options.manufacturer)
    p.add_argument("--model", default=Options.model)
    p.add_argument("--firmware", default=Options.firmware)
    p.add_argument("--serial", default=Options.serial,
                   help="GetDeviceInformation's SerialNumber (e.g. a 20-digit Annex A device ID)")
    p.add_argument("--hardware", default=Options.hardware)
    p.add_argument("--name", default=Options.name, help="the onvif://www.onvif.org/name/ scope")
    p.add_argument("--scope", action="append", default=[], help="an extra configurable scope URI (repeatable)")
    p.add_argument("--location", type=_location,
                   help="LAT,LON[,ELEV]: what GetGeoLocation answers (without it: not supported)")
    p.add_argument("--clock-offset", type=float, default=0.0, help="seconds the device clock runs ahead")
    p.add_argument("--rtsp", default="none",
                   help="none, gst (start the GStreamer source), or rtsp://HOST:PORT of a running one")
    p.add_argument("--rtsp-open", action="store_true", help="with --rtsp gst: no RTSP Digest on the streams")
    p.add_argument("--control", action="store_true", help="read commands on stdin; end at its end")
    p.add_argument("--workdir", type=Path, help="where the snapshot JPEGs go (default: a temporary directory)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def options(args: argparse.Namespace) -> Options:
    host, _, port = (f"127.0.0.1:{args.port}" if args.port is not None else args.listen).rpartition(":")
    return Options(
        host=host.strip("[]") or "127.0.0.1", port=int(port), advertise=args.advertise, user=args.user,
        password=args.password, viewer=args.viewer, auth=args.auth, profiles=args.profiles, media1=args.media1,
        media2=args.media2, ptz=args.ptz, ptz_profiles=args.ptz_profiles, events=args.events,
        manufacturer=args.manufacturer, model=args.model, firmware=args.firmware, serial=args.serial,
        hardware=args.hardware, name=args.name, scopes=tuple(args.scope), location=args.location,
        clock_offset=args.clock_offset, rtsp=args.rtsp, rtsp_auth=not args.rtsp_open)


def accounts(o: Options) -> list[Account]:
    found = [Account(o.user, o.password, "Administrator")] if o.user else []
    if o.viewer:
        found.append(Account(o.viewer[0], o.viewer[1], "User"))
    return found


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _terminate(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    o = options(args)
    dev = Device(o)
    source: RtspSource | None = None
    with tempfile.TemporaryDirectory(prefix="fake-camera-") as scratch:
        workdir = args.workdir or Path(scratch)
        signal.signal(signal.SIGTERM, _terminate)
        try:
            if o.rtsp == "gst":
                user = o.user if o.rtsp_auth else None
                source = RtspSource(profiles=max(o.profiles, 4), fps=o.fps, user=user, password=o.password,
                                    listen=f"{o.host}:0", log_path=workdir / "rtsp.log").start()
                rtsp_base = source.url
            elif o.rtsp.startswith("rtsp://"):
                rtsp_base = o.rtsp.rstrip("/")
            else:
                rtsp_base = f"rtsp://{o.public_host}:554"
            advertised = rtsp_base.replace(f"//{o.host}:", f"//{o.advertise}:", 1) if o.advertise else rtsp_base
            server = CameraServer(dev, accounts(o), advertised, make_snapshots(workdir))
            threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
            say(f"{PREFIX}rtsp on {rtsp_base}")
            say(f"{PREFIX}serving on {server.local_base}/onvif/device_service")
            try:
                if args.control:
                    for line in sys.stdin:
                        say(command(server, source, line))
                else:
                    threading.Event().wait()
            finally:
                server.stop()
        except KeyboardInterrupt:
            pass
        finally:
            if source is not None:
                source.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
