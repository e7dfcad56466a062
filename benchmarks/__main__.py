"""`python -m benchmarks [NAME] [OPTIONS]`: print every benchmark's figures, or one benchmark's.

  python -m benchmarks                         every benchmark in turn, with its defaults (what `make bench` runs)
  python -m benchmarks cold-start [OPTIONS]    cold-start init time per function (benchmarks/cold_start.py)
  python -m benchmarks local-cloud [OPTIONS]   the local cloud: gateway, orders, `make run` (benchmarks/local_cloud.py)
  python -m benchmarks live-updates [OPTIONS]  WebSocket connections, push latency, memory (benchmarks/live_updates.py)
  python -m benchmarks NAME --help             that benchmark's options

Options without a NAME are cold-start's, as when it was the only benchmark (the local cloud then runs with its
defaults). The exit status is the worst of the benchmarks run: 0 when the figures were measured, goals met or
not; 1 when a benchmark failed to measure.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from typing import cast

# Imported only when run: the local cloud brings moto and the SAM translator, which cold-start has no use for.
BENCHMARKS = {
    "cold-start": "benchmarks.cold_start",
    "local-cloud": "benchmarks.local_cloud",
    "live-updates": "benchmarks.live_updates",
}


def run(name: str, argv: Sequence[str]) -> int:
    module = importlib.import_module(BENCHMARKS[name])
    benchmark = cast(Callable[[Sequence[str] | None], int], module.main)
    status = benchmark(list(argv))
    sys.stdout.flush()
    return status


def main(argv: Sequence[str]) -> int:
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    if argv and argv[0] in BENCHMARKS:
        return run(argv[0], argv[1:])
    if argv and not argv[0].startswith("-"):
        print(f"no benchmark named {argv[0]!r}: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    statuses = []
    for number, name in enumerate(BENCHMARKS):
        if number:
            print()
        statuses.append(run(name, argv if name == "cold-start" else []))
    return max(statuses)


raise SystemExit(main(sys.argv[1:]))
