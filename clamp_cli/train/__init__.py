"""Training clamp-mini: data from music21's corpus, descriptions, the training loop."""
