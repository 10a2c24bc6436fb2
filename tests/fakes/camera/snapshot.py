"""Snapshot JPEGs, encoded by ffmpeg when the camera starts (one per frame size), never kept in the repository."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.fakes.camera.model import SIZES


def make_snapshots(directory: Path) -> dict[tuple[int, int], Path]:
    """(width, height) -> JPEG of a test pattern that size, for every profile size; empty without ffmpeg."""
    if shutil.which("ffmpeg") is None:
        return {}
    found: dict[tuple[int, int], Path] = {}
    for width, height in SIZES:
        path = directory / f"snapshot-{width}x{height}.jpg"
        pattern = f"testsrc=size={width}x{height}:rate=1"
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", pattern, "-frames:v", "1",
                        str(path)], check=True, timeout=60, capture_output=True, stdin=subprocess.DEVNULL)
        found[(width, height)] = path
    return found
