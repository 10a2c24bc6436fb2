"""The fake camera's RTSP server: an H.264 test pattern per profile, from GStreamer's RTSP server.

Run by Debian's ``/usr/bin/python3`` (GStreamer's bindings belong to it, not to a virtualenv), so this file imports
only the standard library and ``gi``. One mount per profile (``/profile1``, ``/profile2``, ...), each a shared
live pipeline: ``videotestsrc`` at 25 fps, small frames, ``x264enc`` tuned so two cores keep up, a key frame every
second. Optional RTSP Digest (``--user`` with the password on stdin's first line, as the gateway's CLI takes one).

It prints ``rtsp: serving on rtsp://HOST:PORT`` once bound. Lines on stdin then steer it at run time, as a failing
camera would behave, each answered by ``rtsp: ok WORD`` once done: ``close`` drops every client connection (a
stream closing mid-way), ``stall`` stops the frames while keeping the sessions open (a camera that hangs),
``resume`` restarts them. End of stdin ends the process, so it never outlives its launcher.
"""
from __future__ import annotations

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

PIPELINE = (
    "( videotestsrc is-live=true pattern={pattern} ! video/x-raw,width={width},height={height},framerate={fps}/1 "
    "! valve name=valve drop=false "
    "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} bitrate={kbps} "
    "! video/x-h264,profile=constrained-baseline ! rtph264pay name=pay0 pt=96 config-interval=1 )"
)
PATTERNS = ("smpte", "ball", "snow", "pinwheel")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT to bind (port 0: any free port)")
    parser.add_argument("--sizes", default="320x240,160x120",
                        help="one WIDTHxHEIGHT per profile, comma-separated: /profile1 gets the first")
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--kbps", type=int, default=256, help="x264 bit rate of each mount")
    parser.add_argument("--user", help="require RTSP Digest with this user; the password is stdin's first line")
    parser.add_argument("--realm", default="fake-camera")
    return parser.parse_args(argv)


def sizes(text: str) -> list[tuple[int, int]]:
    found = []
    for item in text.split(","):
        width, height = item.lower().split("x")
        found.append((int(width), int(height)))
    return found


class Source:
    """The RTSP server, its mounts and the media it has made (for ``stall``/``resume``)."""

    def __init__(self, args: argparse.Namespace, password: str | None) -> None:
        self.server = GstRtspServer.RTSPServer()
        host, port = args.listen.rsplit(":", 1)
        self.server.set_address(host.strip("[]"))
        self.server.set_service(port)
        self.medias: list[GstRtspServer.RTSPMedia] = []
        self.stalled = False
        if args.user:
            self.server.set_auth(self._auth(args.user, password or "", args.realm))
        mounts = self.server.get_mount_points()
        for index, (width, height) in enumerate(sizes(args.sizes), start=1):
            factory = GstRtspServer.RTSPMediaFactory()
            factory.set_launch(PIPELINE.format(pattern=PATTERNS[(index - 1) % len(PATTERNS)], width=width,
                                               height=height, fps=args.fps, kbps=args.kbps))
            factory.set_shared(True)
            if args.user:
                factory.add_role_from_structure(Gst.Structure.new_from_string(
                    "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"))
            factory.connect("media-configure", self._configured)
            mounts.add_factory(f"/profile{index}", factory)

    @staticmethod
    def _auth(user: str, password: str, realm: str) -> GstRtspServer.RTSPAuth:
        auth = GstRtspServer.RTSPAuth()
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        auth.set_realm(realm)
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "user")
        auth.add_digest(user, password, token)
        return auth

    def _configured(self, _factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia) -> None:
        self.medias.append(media)
        media.connect("unprepared", lambda m: self.medias.remove(m) if m in self.medias else None)
        self._set_valve(media)

    def _set_valve(self, media: GstRtspServer.RTSPMedia) -> None:
        valve = media.get_element().get_by_name("valve")
        if valve is not None:
            valve.set_property("drop", self.stalled)

    def command(self, line: str) -> None:
        word = line.strip()
        if word == "close":
            self.server.client_filter(lambda _s, _c, *_: GstRtspServer.RTSPFilterResult.REMOVE, None)
        elif word in ("stall", "resume"):
            self.stalled = word == "stall"
            for media in self.medias:
                self._set_valve(media)
        elif word:
            print(f"rtsp: error unknown command {word!r}", flush=True)
            return
        print(f"rtsp: ok {word}", flush=True)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    Gst.init(None)
    channel = GLib.IOChannel.unix_new(sys.stdin.fileno())  # one reader of stdin: no Python buffer in between
    password = channel.readline().rstrip("\r\n") if args.user else None
    source = Source(args, password)
    loop = GLib.MainLoop()
    if source.server.attach(None) == 0:
        print(f"rtsp: cannot bind {args.listen}", file=sys.stderr, flush=True)
        return 1
    host = args.listen.rsplit(":", 1)[0]
    print(f"rtsp: serving on rtsp://{host}:{source.server.get_bound_port()}", flush=True)

    def on_stdin(channel: GLib.IOChannel, condition: GLib.IOCondition) -> bool:
        line = channel.readline() if condition & GLib.IOCondition.IN else ""
        if not line:
            loop.quit()
            return False
        source.command(line)
        return True

    GLib.io_add_watch(channel, GLib.PRIORITY_DEFAULT, GLib.IOCondition.IN | GLib.IOCondition.HUP, on_stdin)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
