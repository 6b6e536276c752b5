"""The event log: its schema, the writer that appends it, and its readers (rows as they
are, the columnar reader the analysis uses, the seed tool's log)."""
