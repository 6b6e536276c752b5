"""After the viewers: the event log, its analysis, the judge and the report, each a stage
of its own importing only the stages before it."""
