"""Taste2Vec Edge conversion toolkit: distill the reference model, convert to TFLite, quantize, gate on
parity, and write a verified model bundle (``taste2vec-convert export``)."""
