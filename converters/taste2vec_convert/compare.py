"""Compare two bundles: byte-identical files, or (if the models differ) how close their vectors are.

Used by ``make model`` to check a rebuild against the committed bundle. ``created`` in the manifest is ignored.
When model files differ (training is bit-reproducible on one CPU kind and thread count; across CPUs only with
``STRICT_MATH=1``, see ``taste2vec_reference.determinism``), the documented tolerance is: mean cosine >= 0.99
between the two models' vectors on 200 held-out synthetic records, with the same signatures and preprocessing files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from taste2vec.bundle import ModelBundle
from taste2vec.features import FeatureExtractor
from taste2vec.runtime import TasteModel

TOLERANCE_COS_MEAN = 0.99


def _embed(bundle: ModelBundle, records) -> np.ndarray:
    model = TasteModel(bundle.model_bytes())
    fx = FeatureExtractor(bundle.lexicon, bundle.spec)
    out = []
    for r in records:
        f = fx(r)
        ids = bundle.tokenizer.encode(f.notes).ids
        b = model.bucket_for(len(ids))
        tok = np.zeros((1, b), np.int32)
        tok[0, :min(b, len(ids))] = ids[:b]
        out.append(model.run({"token_ids": tok, "lexicon": f.lexicon[None], "metrics": f.metrics[None],
                              "metrics_mask": f.metrics_mask[None], "context": f.context[None],
                              "context_mask": f.context_mask[None]})[0])
    return np.stack(out)


def compare_bundles(a: Path, b: Path, n_records: int = 200, trusted_keys: Any = None,
                    allow_unsigned: bool = False) -> dict[str, Any]:
    """Same files? If not, how close are the two bundles' vectors on ``n_records`` synthetic test records.
    Both bundles are verified (origin as in ``ModelBundle.load``)."""
    trust = {"trusted_keys": trusted_keys, "allow_unsigned": allow_unsigned}
    ba, bb = ModelBundle.load(a, **trust), ModelBundle.load(b, **trust)
    fa, fb = ba.manifest["files"], bb.manifest["files"]
    differing = sorted(k for k in set(fa) | set(fb) if fa.get(k, {}).get("sha256") != fb.get(k, {}).get("sha256"))
    ma = {k: v for k, v in ba.manifest.items() if k != "created"}
    mb = {k: v for k, v in bb.manifest.items() if k != "created"}
    manifest_diff = sorted(k for k in set(ma) | set(mb) if json.dumps(ma.get(k), sort_keys=True) !=
                           json.dumps(mb.get(k), sort_keys=True))
    res: dict[str, Any] = {"a": str(a), "b": str(b), "identical_files": not differing, "differing_files": differing,
                           "manifest_fields_differing": manifest_diff}
    if not differing:
        res["equivalent"] = True
        return res
    from taste2vec_reference.synthetic import TasteWorld, WorldConfig

    world = TasteWorld(WorldConfig())
    recs = [world.record(c.id, 300).record for c in world.coffees("test")][:n_records]
    ea, eb = _embed(ba, recs), _embed(bb, recs)
    cos = (ea * eb).sum(1)
    res.update(cos_mean=float(cos.mean()), cos_min=float(cos.min()), records=len(recs),
               tolerance_cos_mean=TOLERANCE_COS_MEAN)
    same_pre = all(fa.get(k, {}).get("sha256") == fb.get(k, {}).get("sha256")
                   for k in ("record_spec.json", "sensory_lexicon.json"))
    res["equivalent"] = bool(cos.mean() >= TOLERANCE_COS_MEAN and same_pre and
                             [s["name"] for s in ba.manifest["signatures"]] ==
                             [s["name"] for s in bb.manifest["signatures"]])
    return res
