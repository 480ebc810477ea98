"""The ledger's application services (commands over ExportLog aggregates)."""
