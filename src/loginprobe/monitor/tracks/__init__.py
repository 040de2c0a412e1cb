"""The incident tracks (pure): when a run of verdicts becomes a page and when it resolves."""
