"""Change feed: the ledger, in order, for agency systems that mirror SBT."""
