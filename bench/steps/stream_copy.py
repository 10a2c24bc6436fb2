"""The raw limit of the stream benchmark: a plain asyncio socket copy in front of an upstream, as a process.

``python -m bench.steps.stream_copy HOST:PORT`` prints ``copy: listening on PORT``; each accepted connection is
copied both ways to ``HOST:PORT`` with one read and one drained write per chunk, and nothing else: no parsing,
no rewriting, no authentication.  What a relay in Python cannot beat.
"""
from __future__ import annotations

import asyncio
import sys


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def main(upstream: str) -> None:
    host, port = upstream.rsplit(":", 1)

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(accept, "127.0.0.1", 0, backlog=1024)
    print(f"copy: listening on {server.sockets[0].getsockname()[1]}", flush=True)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    loop.add_reader(sys.stdin.fileno(), lambda: sys.stdin.read(1) or done.set())
    await done.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
