"""Taste2Vec reference model (the PyTorch teacher): data, lexicon building, training and evaluation.

Part of the ``taste2vec-toolkit`` distribution (``pip install . ./toolkit`` from the repository root).
The on-device SDK lives in :mod:`taste2vec` and never imports this package.
"""

__version__ = "0.1.0"
