"""``python -m app.cli`` runs the ``sbt`` command (the benchmarks start the server this way)."""

from app.cli import main

main()
