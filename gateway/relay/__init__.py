"""The gateway's RTSP relay and snapshot proxy (docs/architecture.md §11).

A sans-IO core (``rtsp.py`` messages, ``rewrite.py`` URL rules, ``auth.py`` Digest and Basic, ``paths.py``
the URIs) under thin asyncio shells: one relay session per client (``session.py``), the RTSP listener
(``listener.py``) and the ASGI app of the web-service port (``asgi.py``: RTSP over HTTP, snapshots).
"""
