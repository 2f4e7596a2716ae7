"""Webhooks: agency systems subscribe to events (case changed, deadline passed, finding opened) and SBT delivers
them signed (Standard Webhooks), retried with backoff, with a delivery log."""
