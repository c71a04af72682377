"""The prompt templates (``*.txt`` in this package), shipped as package data.

Find them with :func:`directory`, never by a path relative to the source tree: an installed
wheel has no source tree.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = ["directory"]


def directory() -> Traversable:
    """The folder holding the bundled prompt files (a real directory in a normal install)."""
    return resources.files(__name__)
