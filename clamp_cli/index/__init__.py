"""Feature cache and the orchestration that fills it (formats + models -> cached vectors)."""
