"""The connecting side of the uplink tunnel: the gateway behind a firewall, which dials up to a remote client.

The configured uplinks kept up (connector), the upgrade request (dial), the TLS material from the keystore
(tls), and the HTTP/2 server that runs this gateway's ASGI app over the opened connection (h2server,
h2stream).
"""
