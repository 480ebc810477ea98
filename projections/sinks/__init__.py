"""Webhook sinks: the ledger's events delivered to HTTP receivers, signed (Standard Webhooks)."""
