"""clamp: grep for music. Find and label scores by meaning with the CLaMP models.

Importing this package is cheap on purpose: torch and transformers are only
imported by the layers that need them, so `clamp --help` stays fast.
"""

__version__ = "0.1.0"
