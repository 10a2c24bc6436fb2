"""The Uplink tunnel: HTTP/2 reversed over a TLS connection the gateway behind a firewall opens.

Two roles, one subpackage each, and what both share:

* :mod:`gateway.uplink.listening`: the upper gateway.  It accepts uplinks from segments behind firewalls,
  acts as the HTTP/2 client over each link, and lets federation reach a segment through its link.
* :mod:`gateway.uplink.connecting`: the gateway behind a firewall.  It dials each configured uplink up and
  serves its own ASGI app, as the HTTP/2 server, to the remote client.
* :mod:`gateway.uplink.shared`: the byte stream, WebSocket framing and upgrade constants both roles use.
* :mod:`gateway.uplink.extension`: the ASGI scope extension that marks a request as tunnelled (set by
  the connecting side, read by the runtime's principal hook).

The two roles import nothing from each other.  The ONVIF Uplink configuration service is
:mod:`gateway.uplink_config`, not part of the transport.
"""
