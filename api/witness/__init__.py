"""A small witness of our own (c2sp.org/tlog-witness): cosigns the checkpoints of the logs
it is told to trust, keeping the latest cosigned size of each log in a SQLite file."""
