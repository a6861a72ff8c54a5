"""The version of asyncify-doctor (one place: the package, its documents and pyproject read it here)."""
__version__ = "0.1.0"
