"""Taste2Vec Edge backend: the half of the product that runs on servers.

- :mod:`taste2vec_backend.server`: the cloud inference service (``taste2vec-serve``; extra ``serve``), the same
  bundles and vectors as the SDK behind HTTP, micro-batched, with Prometheus metrics and hot reload.
- :mod:`taste2vec_backend.lifecycle`: registry stages, A/B rollout, experiment analysis, monitoring, Spark jobs,
  fine-tuning (``taste2vec-lifecycle``).

Everything here builds on the SDK (:mod:`taste2vec`); nothing in the SDK depends on it.
"""
