"""Taste2Vec Edge SDK: tasting records -> 128-d taste vectors, on device.

Runtime dependencies: numpy and a LiteRT interpreter only. This package never imports torch,
tensorflow or onnx.
"""

from .errors import (
    InvalidTypeError,
    NonFiniteValueError,
    OutOfRangeError,
    RecordValidationError,
    SpecError,
    Taste2VecError,
    UnknownCategoryError,
    UnknownFieldError,
)
from .bundle import BundleError, ModelBundle
from .embedder import BaseOptions, Embedder, EmbedderOptions, EmbeddingResult
from .lexicon import LexiconMatch, SensoryLexicon
from .records import ContextSnapshot, TastingRecord, as_record
from .spec import RecordSpec, default_spec, load_spec

__version__ = "0.1.0"

# personalization and curation load on first use: an app's cold start (import, load, first embed) does not pay them
_LAZY = {"Catalog": "curation", "CatalogItem": "curation", "Recommendation": "curation", "recommend": "curation",
         "TasteProfile": "profile"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "BaseOptions", "BundleError", "Catalog", "CatalogItem", "Embedder", "EmbedderOptions", "EmbeddingResult",
    "ModelBundle", "Recommendation", "TasteProfile", "recommend",
    "ContextSnapshot", "InvalidTypeError", "LexiconMatch", "NonFiniteValueError", "OutOfRangeError",
    "RecordSpec", "RecordValidationError", "SensoryLexicon", "SpecError", "Taste2VecError", "TastingRecord",
    "UnknownCategoryError", "UnknownFieldError", "as_record", "default_spec", "load_spec",
]
