"""Supervising long-running work: one restartable task per configuration row, backoff, periodic loops.

The bottom layer: it imports nothing from the gateway, and federation, the uplink connector, the event
feed watcher and the runtime build their supervision from it.
"""
