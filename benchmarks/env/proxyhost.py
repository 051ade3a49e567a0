"""``python -m benchmarks.env.proxyhost``: latency proxies in a process of their own.

The proxies forward bytes from Python threads; inside the measuring process they would take
the GIL from the code being measured. Reads ``[[name, host, port, delay_ms], ...]`` as JSON on
stdin's first line, prints ``{name: port}``, and serves until stdin closes.
"""

from __future__ import annotations

import json
import sys

from benchmarks.env.proxy import LatencyProxy


def main() -> int:
    wanted = json.loads(sys.stdin.readline())
    proxies = {name: LatencyProxy(host, port, delay).start() for name, host, port, delay in wanted}
    try:
        print(json.dumps({name: proxy.port for name, proxy in proxies.items()}), flush=True)
        sys.stdin.read()  # returns when the parent closes the pipe or exits
    finally:
        for proxy in proxies.values():
            proxy.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
