"""Tamper-evident shared ledger: RFC 9162 Merkle tree, C2SP signed checkpoints, proofs, offline verifier."""
