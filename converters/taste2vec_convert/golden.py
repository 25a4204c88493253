"""Golden outputs recorded by the toolkit: what the validated model returned for the SDK's sample records.

The tensors come from the same path the parity gate feeds every variant (records -> ``FeatureExtractor.batch``
-> a ``Pool`` with ``tokenizer.encode_batch`` ids -> ``parity.record_inputs`` cut to the bucket), so the SDK's
one-record preprocessing (``taste2vec.preprocess``) and any port can be checked against it
(``taste2vec.golden.compare_golden``). Written into the bundle as ``golden_outputs.json``.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

import torch

from taste2vec.features import FeatureExtractor
from taste2vec.golden import golden_case, golden_document, sample_records
from taste2vec.lexicon import SensoryLexicon
from taste2vec.records import as_record
from taste2vec.runtime import TasteModel
from taste2vec.tokenizer import WordPieceTokenizer
from taste2vec_reference.train import Pool

from .parity import record_inputs

GOLDEN_FILE = "golden_outputs.json"


def toolkit_golden(model_bytes: bytes, model_id: str, tokenizer: WordPieceTokenizer, lexicon: SensoryLexicon,
                   samples: Sequence[tuple[str, Mapping[str, Any]]] | None = None) -> dict[str, Any]:
    """Golden document of ``samples`` (default: the SDK's sample records) through the validation path."""
    samples = list(samples if samples is not None else sample_records())
    records = [as_record(r) for _, r in samples]
    feats = FeatureExtractor(lexicon).batch(records)
    pool = Pool(feats, torch.zeros(len(records), 1)).add_token_ids(
        lambda notes: tokenizer.encode_batch(notes, length=tokenizer.max_tokens))
    model = TasteModel(model_bytes, num_threads=1)
    cases = []
    for i, (name, record) in enumerate(samples):
        inputs = record_inputs(pool, i, tokenizer.bucket_for)
        tokens = tokenizer.encode(pool.notes[i]).tokens
        cases.append(golden_case(name, record, inputs, tokens, inputs["token_ids"].shape[1], model.run(inputs)[0]))
    return golden_document(model_id, model_bytes, "taste2vec_convert (parity-gate input path)", cases)


def golden_bytes(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
