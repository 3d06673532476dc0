"""Paths as the user sees them. Torch-free."""

from __future__ import annotations

import os


def display_path(path: str) -> str:
    """Paths under the working directory are shown relative to it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return path if rel.startswith("..") else rel
