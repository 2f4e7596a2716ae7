"""``python -m app.witness``: the witness commands without loading the rest of SBT (a witness starts in a second
where ``sbt`` imports every domain first); ``sbt witness`` is the same commands."""

from app.witness.cli import witness_cli

witness_cli()
