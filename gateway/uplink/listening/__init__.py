"""The listening side of the uplink tunnel: the upper gateway, which accepts uplinks from segments.

The upgrade parser (handshake), the TLS listener that authenticates each segment (listener), the HTTP/2
client over an accepted link (link), the links by segment (registry), and the httpx transport that sends
federation's requests through a link (transport).
"""
