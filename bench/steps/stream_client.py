"""The stream benchmark's RTSP client: DESCRIBE, SETUP (TCP interleaved), PLAY, then count what arrives.

Written for the bench alone (it imports nothing of ``gateway/``): many of them share one event loop, so it
parses just enough: response heads by their ``Content-Length``, interleaved frames by their length.  Per stream
it records the time from connecting to the first RTP packet, octets, RTP packets, frames (packets with the
marker bit: one per access unit of H.264 over RTP) and packets lost (gaps in the RTP sequence numbers).
"""
from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass


@dataclass
class StreamStats:
    first_frame_s: float | None = None
    octets: int = 0
    packets: int = 0
    frames: int = 0
    lost: int = 0
    error: str = ""


async def _response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """The next response; interleaved frames before it (a server may start sending before its PLAY answer)
    are skipped."""
    while (first := await reader.readexactly(1)) == b"$":
        size = int.from_bytes((await reader.readexactly(3))[1:], "big")
        await reader.readexactly(size)
    head = first + await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


async def play(url: str, seconds: float, *, user: str | None = None, password: str | None = None,
               connect_timeout: float = 20.0) -> StreamStats:
    """Play ``url`` (``rtsp://host:port/path``) for ``seconds`` after PLAY; Basic credentials when given."""
    stats = StreamStats()
    host_port = url.split("/", 3)[2]
    host, port = host_port.rsplit(":", 1)
    started = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port), limit=1 << 20),
                                                connect_timeout)
    except (OSError, TimeoutError) as error:
        stats.error = f"connect: {error!r}"
        return stats
    auth = f"Authorization: Basic {base64.b64encode(f'{user}:{password}'.encode()).decode()}\r\n" if user else ""
    cseq = 0

    async def request(method: str, target: str, extra: str = "") -> tuple[int, dict[str, str], bytes]:
        nonlocal cseq
        cseq += 1
        writer.write(f"{method} {target} RTSP/1.0\r\nCSeq: {cseq}\r\n{auth}{extra}\r\n".encode())
        return await asyncio.wait_for(_response(reader), connect_timeout)

    try:
        status, headers, body = await request("DESCRIBE", url, "Accept: application/sdp\r\n")
        if status != 200:
            stats.error = f"DESCRIBE {status}"
            return stats
        base = headers.get("content-base", url + "/")
        control = next((line[10:].strip() for line in body.decode("latin-1").splitlines()
                        if line.startswith("a=control:") and line.strip() != "a=control:*"), "")
        track = control if "://" in control else base.rstrip("/") + "/" + control
        status, headers, _ = await request("SETUP", track, "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n")
        if status != 200:
            stats.error = f"SETUP {status}"
            return stats
        session = headers.get("session", "").split(";")[0]
        status, _, _ = await request("PLAY", base, f"Session: {session}\r\n")
        if status != 200:
            stats.error = f"PLAY {status}"
            return stats
        deadline = time.monotonic() + seconds
        last_seq: int | None = None
        buffer, pos = bytearray(), 0
        while (left := deadline - time.monotonic()) > 0:
            try:
                data = await asyncio.wait_for(reader.read(1 << 18), left)
            except TimeoutError:
                break
            if not data:
                stats.error = "the stream ended early"
                break
            del buffer[:pos]
            buffer += data
            pos, size = 0, len(buffer)
            while pos + 4 <= size:
                if buffer[pos] != 0x24:  # an RTSP message in between (a server's request): skip its head and body
                    blank = buffer.find(b"\r\n\r\n", pos)
                    if blank < 0:
                        break
                    length = next((int(line.split(b":")[1]) for line in bytes(buffer[pos:blank]).split(b"\r\n")
                                   if line.lower().startswith(b"content-length")), 0)
                    if blank + 4 + length > size:
                        break
                    pos = blank + 4 + length
                    continue
                end = pos + 4 + ((buffer[pos + 2] << 8) | buffer[pos + 3])
                if end > size:
                    break
                stats.octets += end - pos
                if buffer[pos + 1] == 0 and end - pos >= 16:  # RTP on channel 0; RTCP on 1 is only counted
                    stats.packets += 1
                    seq = (buffer[pos + 6] << 8) | buffer[pos + 7]
                    if last_seq is not None:
                        stats.lost += (seq - last_seq - 1) % 65536
                    last_seq = seq
                    if buffer[pos + 5] & 0x80:
                        stats.frames += 1
                        if stats.first_frame_s is None:
                            stats.first_frame_s = time.monotonic() - started
                pos = end
        writer.write(f"TEARDOWN {base} RTSP/1.0\r\nCSeq: {cseq + 1}\r\n{auth}Session: {session}\r\n\r\n".encode())
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError) as error:
        stats.error = stats.error or f"{type(error).__name__}: {error}"
    finally:
        writer.close()
    return stats
