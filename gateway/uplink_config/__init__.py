"""The ONVIF Uplink configuration service (GetUplinks, SetUplink, DeleteUplink) over the catalog.

It configures the connecting side of the tunnel (:mod:`gateway.uplink.connecting`), which reads the
configurations from the catalog; it does not touch the tunnel itself.
"""
