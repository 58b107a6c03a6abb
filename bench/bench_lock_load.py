"""How long reading a real workspace's ``uv.lock`` takes: ``Lock.load`` on the recorded locks
of opentelemetry-python and the MCP python-sdk (beside the checkout in ``shared/fixtures``).

    python bench/bench_lock_load.py [--runs 20]

Prints, per lock, the minimum, median and maximum of ``--runs`` loads after a warm-up. The
target is a few tens of milliseconds: a session reads the lock once.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pytest_wsenv.lock import Lock  # noqa: E402

FIXTURES = ROOT.parent / "shared" / "fixtures" / "real"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    locks = sorted(FIXTURES.glob("*/workspace/uv.lock"))
    if not locks:
        print(f"no recorded locks under {FIXTURES}", file=sys.stderr)
        return 1
    for path in locks:
        Lock.load(path)  # warm imports and caches
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            Lock.load(path)
            times.append(time.perf_counter() - start)
        name = path.parents[1].name
        print(
            f"{name:20} Lock.load: min {min(times) * 1000:6.1f} ms  "
            f"median {statistics.median(times) * 1000:6.1f} ms  max {max(times) * 1000:6.1f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
