"""What both sides of the uplink tunnel use: the byte stream, its WebSocket variant, the upgrade constants."""
