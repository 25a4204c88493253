"""The toolkit's errors (training, evaluation, conversion): one base, under the SDK's.

Every error the toolkit raises on purpose is a :class:`ToolkitError`, itself a
:class:`taste2vec.errors.Taste2VecError`, so a caller (or a CLI) catches one class and prints one line.
"""

from __future__ import annotations

from taste2vec.errors import Taste2VecError


class ToolkitError(Taste2VecError):
    """Base of every error of the training and conversion toolkit."""
