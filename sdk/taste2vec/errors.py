"""Typed errors raised by Taste2Vec Edge.

Every validation error names the offending field (a dotted path such as ``metrics.acidity`` or
``context[2].hour``) and what is allowed there, so an app can show it to a user or log it.
"""

from __future__ import annotations


class Taste2VecError(Exception):
    """Base class of every error raised by this package."""


class UsageError(Taste2VecError):
    """Bad command-line input: every Taste2Vec command prints it as one line and exits 2."""


class SpecError(Taste2VecError):
    """The record spec file itself is malformed or of an unsupported version."""


class RecordValidationError(Taste2VecError, ValueError):
    """A tasting record does not follow the record spec.

    Attributes:
        field: dotted path of the offending field, e.g. ``metrics.brew_time``.
        allowed: human-readable description of what is allowed there.
        value: the rejected value (``repr``-able).
    """

    def __init__(self, field: str, message: str, allowed: str = "", value: object = None) -> None:
        self.field = field
        self.allowed = allowed
        self.value = value
        text = f"{field}: {message}"
        if allowed:
            text += f" (allowed: {allowed})"
        super().__init__(text)

    def nest_under(self, prefix: str) -> "RecordValidationError":
        """This error for a record found at ``prefix`` (``records[3]``): the field path and message gain the prefix.
        Returns the error itself, for ``raise e.nest_under(...)``."""
        self.field = f"{prefix}.{self.field}"
        self.args = (f"{prefix}.{self.args[0]}",)
        return self


class InvalidTypeError(RecordValidationError, TypeError):
    """A field has the wrong type (e.g. a string where a number is expected, or a bool)."""


class NonFiniteValueError(RecordValidationError):
    """A numeric field is NaN or infinite."""


class OutOfRangeError(RecordValidationError):
    """A numeric field lies outside the range the spec allows."""


class UnknownFieldError(RecordValidationError):
    """A field name that the record spec does not define."""


class UnknownCategoryError(RecordValidationError):
    """A categorical field has a value that is not one of the spec's categories."""
