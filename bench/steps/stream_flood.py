"""A synthetic RTSP upstream for the stream benchmark's throughput runs, as a process.

``python -m bench.steps.stream_flood`` prints ``flood: listening on PORT``.  It answers DESCRIBE (one H.264
track), SETUP and PLAY, then sends RTP packets of :data:`PAYLOAD` octets over the interleaved channel as fast
as the connection takes them (each write drained), sequence numbers counting up and the marker bit on every
tenth packet, so a client counts frames and losses as on a camera's stream.
"""
from __future__ import annotations

import asyncio
import sys

PAYLOAD = 1400
BURST = 32
SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=flood\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n" \
      b"a=control:stream=0\r\n"


def _packet(seq: int) -> bytes:
    rtp = bytes([0x80, 0x60 | (0x80 if seq % 10 == 9 else 0)]) + (seq % 65536).to_bytes(2, "big") + bytes(8)
    return b"$\x00" + (12 + PAYLOAD).to_bytes(2, "big") + rtp + bytes(PAYLOAD)


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target = lines[0].split(" ")[:2]
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:]) if k}
            extra, body = "", b""
            if method == "DESCRIBE":
                extra, body = f"Content-Type: application/sdp\r\nContent-Base: {target}/\r\n", SDP
            elif method == "SETUP":
                extra = f"Transport: {headers.get('transport', '')}\r\nSession: flood1\r\n"
            writer.write(f"RTSP/1.0 200 OK\r\nCSeq: {headers.get('cseq', '0')}\r\n{extra}"
                         f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            await writer.drain()
            if method == "PLAY":
                burst, stride, seq = bytearray(b"".join(_packet(n) for n in range(BURST))), 16 + PAYLOAD, 0
                while True:
                    for n in range(BURST):  # patch the sequence numbers and markers of one burst in place
                        at, number = n * stride + 4, seq + n
                        burst[at + 1] = 0x60 | (0x80 if number % 10 == 9 else 0)
                        burst[at + 2:at + 4] = (number % 65536).to_bytes(2, "big")
                    writer.write(bytes(burst))
                    seq += BURST
                    await writer.drain()
    except (ConnectionError, OSError, asyncio.IncompleteReadError, ValueError):
        pass
    finally:
        writer.close()


async def main() -> None:
    server = await asyncio.start_server(serve, "127.0.0.1", 0, backlog=1024)
    print(f"flood: listening on {server.sockets[0].getsockname()[1]}", flush=True)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    loop.add_reader(sys.stdin.fileno(), lambda: sys.stdin.read(1) or done.set())
    await done.wait()


if __name__ == "__main__":
    asyncio.run(main())
