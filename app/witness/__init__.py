"""The witness SBT's agencies run (``sbt witness serve``): C2SP tlog-witness over HTTP, its state in SQLite."""
