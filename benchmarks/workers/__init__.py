"""Processes the harness starts: storm and herd crews, throughput workers, peer workers."""
