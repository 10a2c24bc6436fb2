"""What the benchmarks share: statistics, gateway processes, the SOAP client, the demo-city catalog cache,
profiling and report writing.

``process`` and ``soap`` import nothing of ``gateway``: they drive the gateway from outside, as a process and over
HTTP, so what they measure is the gateway and not a shortcut into it.
"""
