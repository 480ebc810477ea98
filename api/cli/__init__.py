"""The export-ledger command line (the root app is in :mod:`api.cli.main`)."""
