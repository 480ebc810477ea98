"""What every entry point shares: settings, the database, the event store, keys,
logs, metrics, and the composition root (:mod:`api.wiring.bootstrap`)."""
