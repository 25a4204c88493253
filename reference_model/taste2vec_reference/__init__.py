"""Taste2Vec reference model (the PyTorch teacher): data, lexicon building, training and evaluation.

Needs the ``reference`` (or ``toolkit``) extra: ``pip install 'taste2vec-edge[reference]'``.
The on-device SDK lives in :mod:`taste2vec` and never imports this package.
"""

__version__ = "0.1.0"
