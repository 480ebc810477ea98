"""The ledger's events as they leave it: CloudEvents, the feed, the live stream."""
