"""ffprobe as the frame counter of every stream test: codec, size and frames read in the first seconds."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class Probe:
    codec: str
    width: int
    height: int
    frames: int


class ProbeFailed(RuntimeError):
    """ffprobe exited with an error (its stderr is the message)."""


def count_frames(url: str, *, transport: str = "tcp", seconds: float = 4.0, timeout: float = 30.0) -> Probe:
    """Read ``seconds`` of the first video stream at ``url`` (``transport``: tcp, udp or http tunnelling)."""
    argv = ["ffprobe", "-v", "error", "-rtsp_transport", transport, "-select_streams", "v:0", "-count_frames",
            "-read_intervals", f"%+{seconds:g}", "-show_entries", "stream=codec_name,width,height,nb_read_frames",
            "-of", "compact=print_section=0:nokey=0", url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise ProbeFailed(done.stderr.strip() or f"ffprobe exited {done.returncode}")
    fields = dict(item.split("=", 1) for item in done.stdout.strip().splitlines()[0].split("|"))
    return Probe(fields["codec_name"], int(fields["width"]), int(fields["height"]), int(fields["nb_read_frames"]))
