"""A larger Schemathesis campaign than CI's: every operation, many examples, on a fresh SQLite database.

    .venv/bin/python -m bench.schemathesis_run [EXAMPLES]   # default 200 examples per operation

Runs tests/contract/test_schemathesis.py with SBT_SCHEMATHESIS_EXAMPLES raised, and prints the figures.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time


def main() -> int:
    examples = sys.argv[1] if len(sys.argv) > 1 else "200"
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/contract/test_schemathesis.py", "-q", "-p", "no:cacheprovider"],
        env=os.environ | {"SBT_SCHEMATHESIS_EXAMPLES": examples},
        check=False,
    )
    elapsed = time.perf_counter() - started
    print(f"schemathesis: {examples} examples per operation, {elapsed:.0f} s, exit {result.returncode}")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
