"""The bottom layer: records and pure helpers shared by several layers above, importing nothing of the gateway."""
