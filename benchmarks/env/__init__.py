"""The environment: servers and the space a run takes on them, latency proxies, data, Django."""
