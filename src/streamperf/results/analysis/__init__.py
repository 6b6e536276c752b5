"""Analysis: from the event log to per-viewer figures, a per-second timeline, media
sessions, the playhead model's stalls, faults and validity. Computes; never decides."""
