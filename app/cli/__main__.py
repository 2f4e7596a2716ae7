"""``python -m app.cli``: the ``sbt`` command without the console script (benchmarks start servers this way)."""

from app.cli import main

main()
