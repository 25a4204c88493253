"""Model lifecycle: registry stages, staged A/B rollout, experiment analysis, monitoring with automatic rollback,
and feedback learning (``taste2vec-lifecycle``; README section "Model lifecycle")."""
