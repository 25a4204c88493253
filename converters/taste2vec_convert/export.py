"""One command: teacher checkpoint -> distill -> convert -> quantize -> validate -> bundle.

    result = export(ExportConfig(), checkpoint="runs/model/teacher/checkpoint", out_dir="runs/model/export")

Writes into ``out_dir``: ``student/`` (resumable distillation checkpoint), ``variants/*.tflite``,
``model.onnx``, ``export_report.{json,md,png}`` and ``bundles/<name>-<version>/``. Registering the bundle is the
lifecycle's (``taste2vec-lifecycle register``), not the export's. Raises ``ExportError`` when no variant passes the parity gate (nothing is bundled).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from taste2vec.bundle import DEFAULT_LATENCY_BUDGET, ModelBundle, bundle_dirname
from taste2vec.embedder import Embedder
from taste2vec.features import FeatureExtractor
from taste2vec.golden import compare_golden
from taste2vec.lexicon import SensoryLexicon, default_lexicon_path
from taste2vec.runtime import TasteModel
from taste2vec_reference.checkpoint import featurizer_for, load_checkpoint, sha256_file
from taste2vec_reference.determinism import is_pinned, pinned_state
from taste2vec_reference.errors import ToolkitError
from taste2vec_reference.evaluate import TEST_SPLITS, EvalData, baseline_results, build_eval_data, evaluate_model, \
    real_metrics, real_table, records_metrics
from taste2vec_reference.synthetic import TasteWorld
from taste2vec_reference.train import TrainConfig

from .bundle_writer import write_bundle
from .distill import DistillConfig, build_transfer_set, distill
from .golden import GOLDEN_FILE, golden_bytes, toolkit_golden
from .onnx_export import check_onnx_tf, onnx_session, run_onnx, to_onnx
from .parity import (ParitySet, Thresholds, context_free_parity, embed_with, explain_failures, latency, pick,
                     reference_embeddings, summarize)
from .report import variant_table, write_report
from .signing import load_private_key, public_pem
from .student import INPUT_NAMES, OUTPUT_NAME, input_signature
from .tflite import VARIANT_DOC, VARIANTS, calibration_inputs, list_ops, quantize_variants, signature_name, \
    to_tflite


class ExportError(ToolkitError):
    """The export cannot produce a bundle (e.g. no variant passes the parity gate)."""


@dataclass
class ExportConfig:
    name: str = "taste2vec-edge"
    version: str = "1.8.0"
    distill: DistillConfig = field(default_factory=DistillConfig)
    variants: tuple[str, ...] = VARIANTS
    thresholds: Thresholds = field(default_factory=Thresholds)
    include_onnx: bool = False
    calibration_records: int = 300
    latency_runs: int = 200
    real_data: bool = True
    created: str | None = None
    signing_key: str | None = None  # Ed25519 private key PEM that signs the bundle (needed to register it)
    latency_budget_ms: float = DEFAULT_LATENCY_BUDGET["ms"]  # the on-device goal written to the manifest
    latency_percentile: float = DEFAULT_LATENCY_BUDGET["percentile"]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["distill"] = self.distill.to_dict()
        return d


@dataclass
class ExportResult:
    bundle: ModelBundle
    report: dict[str, Any]
    report_paths: dict[str, Path]


def _parity_set(data: EvalData) -> ParitySet:
    pools = {"syn_a": data.syn_a, "syn_b": data.syn_b, "en": data.en, "ko": data.ko}
    for prefix, _ in TEST_SPLITS.values():
        if getattr(data, f"{prefix}_a") is not None:
            pools.update({f"{prefix}_{x}": getattr(data, f"{prefix}_{x}") for x in "ab"})
    return ParitySet(pools)


def _all_pools(data: EvalData):
    yield from (data.syn_a, data.syn_b, data.en, data.ko, data.pref_pool)
    real = (getattr(data, f"{prefix}_{x}") for prefix, _ in TEST_SPLITS.values() for x in "ab")
    yield from (p for p in real if p is not None)
    yield from data.review_pools.values()
    yield from data.cqi_pools.values()
    if data.records is not None:
        yield from data.records.pools()


def _records_file(tmeta: dict[str, Any], log: Callable[[str], None]):
    """The teacher's bring-your-own records file, read again for its held-out items (None if absent)."""
    trained_on = tmeta.get("records_file")
    if not trained_on:
        return None
    path = Path(trained_on["path"])
    if not path.exists():
        log(f"   records file {path} (used to train the teacher) is gone: its held-out items are not evaluated")
        return None
    from taste2vec_reference.records_file import read_records

    rf = read_records(path, skip_invalid=TrainConfig.from_dict(tmeta["train_config"]).skip_invalid)
    if rf.sha256 != trained_on.get("sha256"):
        log(f"   warning: {path} changed since the teacher was trained on it")
    return rf


@dataclass
class _Run:
    """One export: its config, output folder, log and per-stage timings."""

    cfg: ExportConfig
    out: Path
    log: Callable[[str], None]
    timings: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.time)

    def stage(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(self, *args)``, timed and logged as ``== name: Ns``."""
        t0 = time.time()
        value = fn(self, *args)
        self.timings[name] = round(time.time() - t0, 1)
        self.log(f"== {name}: {self.timings[name]:.0f}s")
        return value


@dataclass
class _Sources:
    """What the export starts from: the teacher, its world and text encoder, the transfer set."""

    checkpoint: Path
    teacher: Any
    meta: dict[str, Any]
    teacher_sha: str
    world: Any
    lexicon: SensoryLexicon
    featurizer: Any
    transfer: Any


# the real-data metrics the export report keeps per model, both test splits
REAL_KEYS = tuple(m + suffix for _, suffix in TEST_SPLITS.values() for m in ("real_review_retrieval", "probe_review_rating",
                                                                  "probe_review_roast")) + \
    ("records_retrieval", "records_preference")


@dataclass
class _Evaluation:
    """Held-out data with token ids, the baselines, teacher and student quality, the parity pools' embeddings."""

    data: EvalData
    baselines: dict[str, Any]
    tfidf_recall10: dict[str, float]  # TF-IDF's real R@10 per test split ("test", "recent"), this run
    q_teacher: dict[str, Any]
    q_student: dict[str, Any]
    parity: ParitySet
    ref_student: dict[str, np.ndarray]
    ref_teacher: dict[str, np.ndarray]


def export(cfg: ExportConfig, checkpoint: str | Path, out_dir: str | Path, progress: bool = True,
           log: Callable[[str], None] = print, resume: bool = True) -> ExportResult:
    """Run the whole pipeline (see module docs): each stage a function over the run's config."""
    if cfg.signing_key:
        load_private_key(cfg.signing_key)  # a bad key fails now, not after the distillation
    run = _Run(cfg, Path(out_dir), log)
    run.out.mkdir(parents=True, exist_ok=True)
    src = run.stage("transfer set", _load_sources, Path(checkpoint))
    student, history = run.stage("distill", _distill, src, resume, progress)
    ev = run.stage("evaluation (teacher vs student)", _evaluate, src, student)
    variants = run.stage("convert + quantize", _convert, src, student)
    onnx_path, onnx_info = run.stage("onnx export + onnxruntime check", _check_onnx, src, student, ev)
    results, chosen = run.stage("parity gate", _gate, variants, ev)
    report = _report(run, src, student, history, ev, results, chosen, onnx_info)
    if chosen is None:
        write_report(run.out, report)
        raise ExportError(explain_failures(results))
    bundle = run.stage("bundle", _bundle, src, student, ev, chosen, variants[chosen.name], onnx_path, report)
    run.timings["total"] = round(time.time() - run.started, 1)
    return ExportResult(bundle, report, write_report(run.out, report))


def _load_sources(run: _Run, checkpoint: Path) -> _Sources:
    teacher, meta = load_checkpoint(checkpoint)
    world = TrainConfig.from_dict(meta["train_config"]).world
    lexicon = SensoryLexicon.default()
    featurizer = featurizer_for(checkpoint)  # the teacher's own (fine-tuned) text encoder
    transfer = build_transfer_set(run.cfg.distill, world, featurizer, lexicon)
    run.log(f"   {len(transfer.pool):,} records {transfer.sources}; vocabulary {transfer.tokenizer.vocab_size:,} "
            "pieces")
    return _Sources(checkpoint, teacher, meta, sha256_file(checkpoint / "model.safetensors"), world, lexicon,
                    featurizer, transfer)


def _distill(run: _Run, src: _Sources, resume: bool, progress: bool) -> tuple[Any, list[dict[str, Any]]]:
    return distill(run.cfg.distill, src.teacher, src.transfer, run.out, resume=resume, progress=progress,
                   teacher_sha256=src.teacher_sha)


def _evaluate(run: _Run, src: _Sources, student: Any) -> _Evaluation:
    tok = src.transfer.tokenizer
    data = build_eval_data(TasteWorld(src.world, src.lexicon), src.featurizer, FeatureExtractor(src.lexicon),
                           run.cfg.real_data, records_file=_records_file(src.meta, run.log))
    baselines = baseline_results(data, src.featurizer) if run.cfg.real_data else {}
    tfidf = baselines.get("TF-IDF", {})
    tfidf10 = {split: tfidf["real_review_retrieval" + suffix]["recall@10"]
               for split, (_, suffix) in TEST_SPLITS.items() if "real_review_retrieval" + suffix in tfidf}
    for p in _all_pools(data):
        p.add_token_ids(lambda notes: tok.encode_batch(notes, length=tok.max_tokens))
    q_teacher = evaluate_model(src.teacher, data)
    q_student = evaluate_model(student, data)
    q_teacher.pop("_embeddings")
    q_student.pop("_embeddings")
    ps = _parity_set(data)
    return _Evaluation(data, baselines, tfidf10, q_teacher, q_student, ps, reference_embeddings(student, ps),
                       reference_embeddings(src.teacher, ps))


def _convert(run: _Run, src: _Sources, student: Any) -> dict[str, bytes]:
    """The float32 flatbuffer and its quantized variants (calibrated on transfer records), kept in variants/."""
    f32 = to_tflite(student)
    rng = np.random.default_rng(run.cfg.distill.seed)
    pool = src.transfer.pool
    idx = rng.choice(len(pool), size=min(run.cfg.calibration_records, len(pool)), replace=False)
    calib = calibration_inputs(({k: pool.tensors[k][i:i + 1].numpy() for k in INPUT_NAMES} for i in idx),
                               student.cfg.buckets)
    variants = quantize_variants(f32, calib, run.cfg.variants)
    vdir = run.out / "variants"
    vdir.mkdir(exist_ok=True)
    for k, b in variants.items():
        (vdir / f"{k}.tflite").write_bytes(b)
    return variants


def _check_onnx(run: _Run, src: _Sources, student: Any, ev: _Evaluation) -> tuple[Path, dict[str, Any]]:
    """The student as ONNX, run by onnxruntime on the parity pools against the PyTorch student."""
    onnx_path = to_onnx(student, run.out / "model.onnx")
    sess = onnx_session(onnx_path)
    bucket_for = src.transfer.tokenizer.bucket_for
    onnx_emb = {k: embed_with(lambda x: run_onnx(sess, x), p, bucket_for) for k, p in ev.parity.pools.items()}
    ov = np.concatenate(list(onnx_emb.values()))
    sv = np.concatenate([ev.ref_student[k] for k in onnx_emb])
    return onnx_path, {"opset": 17, "size_bytes": onnx_path.stat().st_size, "runtime": "onnxruntime",
                       "cos_vs_student_mean": float((ov * sv).sum(1).mean()),
                       "cos_vs_student_min": float((ov * sv).sum(1).min()),
                       "max_abs_diff": float(np.abs(ov - sv).max()), "onnx_tf": check_onnx_tf()}


def _gate(run: _Run, variants: dict[str, bytes], ev: _Evaluation) -> tuple[list[Any], Any]:
    """Every variant through the parity gate; the smallest that passes (None when none does)."""
    results = []
    for name, model_bytes in variants.items():
        m = TasteModel(model_bytes, num_threads=1)
        emb = {k: embed_with(m.run, p, m.bucket_for) for k, p in ev.parity.pools.items()}
        embed_pool = lambda p, m=m: embed_with(m.run, p, m.bucket_for)  # noqa: E731
        real = real_metrics(embed_pool, ev.data)
        if ev.data.records is not None:
            real.update(records_metrics(embed_pool, ev.data.records))
        results.append(summarize(name, emb, ev.ref_student, ev.ref_teacher, len(model_bytes),
                                 list_ops(model_bytes).builtin, latency(m, ev.parity, run.cfg.latency_runs),
                                 run.cfg.thresholds, real, ev.tfidf_recall10))
    return results, pick(results)


def _report(run: _Run, src: _Sources, student: Any, history: list[dict[str, Any]], ev: _Evaluation,
            results: list[Any], chosen: Any, onnx_info: dict[str, Any]) -> dict[str, Any]:
    """The export report (and the variant and real-data tables in the log)."""
    cfg, tok = run.cfg, src.transfer.tokenizer
    vt = [r.to_dict() for r in results]
    run.log(variant_table(vt, chosen.name if chosen else None))
    side = {**ev.baselines, "teacher": ev.q_teacher, "student (PyTorch)": ev.q_student,
            **{f"{r.name}" + (" (shipped)" if chosen is r else ""): r.real for r in results}}
    if cfg.real_data and ev.data.real_a is not None:
        run.log(real_table(side))
    return {
        "name": cfg.name, "version": cfg.version, "config": cfg.to_dict(), "picked": chosen.name if chosen else None,
        "thresholds": asdict(cfg.thresholds), "parity_records": len(ev.parity), "variants": vt,
        "quality": {"teacher": ev.q_teacher, "student": ev.q_student}, "baselines": ev.baselines,
        "real_data": {k: {m: v[m] for m in REAL_KEYS if m in v} for k, v in side.items()},
        "student": {"parameters": student.num_parameters(), "config": student.cfg.to_dict()},
        "transfer": {"records": len(src.transfer.pool), "sources": src.transfer.sources,
                     "vocab_size": tok.vocab_size},
        "distill": {"steps": cfg.distill.steps, "final": history[-1] if history else None},
        "onnx": onnx_info, "source": {"checkpoint": str(src.checkpoint), "checkpoint_sha256": src.teacher_sha},
        "timings_s": run.timings}


def _bundle(run: _Run, src: _Sources, student: Any, ev: _Evaluation, chosen: Any, model: bytes, onnx_path: Path,
            report: dict[str, Any]) -> ModelBundle:
    """Write the chosen variant as a (signed) bundle, then load it with the SDK and check the golden outputs."""
    cfg, tok = run.cfg, src.transfer.tokenizer
    n, differ = context_free_parity(model, ev.parity)
    if not n or differ:
        raise ExportError(f"the signatures for records without context give {differ} of {n} such parity records "
                          "another vector than the full graph")
    report["context_free"] = {"records": n, "identical": n - differ}
    run.log(f"   records without context: {n} parity records, embed_<bucket>_c0 = embed_<bucket> bit for bit")
    golden = toolkit_golden(model, bundle_dirname(cfg.name, cfg.version), tok, src.lexicon)
    metadata = _manifest_metadata(cfg, src, student, ev, chosen, golden)
    created = cfg.created or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    bundle = write_bundle(run.out / "bundles", cfg.name, cfg.version, model, tok, default_lexicon_path(),
                          metadata, onnx_path if cfg.include_onnx else None, created=created,
                          extra_files={GOLDEN_FILE: golden_bytes(golden)}, signing_key=cfg.signing_key)
    own_key = [public_pem(load_private_key(cfg.signing_key))] if cfg.signing_key else []
    trust = {"trusted_keys": own_key, "allow_unsigned": not own_key}  # the bundle this run just wrote
    with Embedder.create_from_model_path(bundle.path, **trust) as sdk:  # the SDK's own preprocessing must agree
        agree = compare_golden(sdk, golden)
    if not agree.ok:
        raise ExportError("the SDK's preprocessing disagrees with the toolkit's: " + "; ".join(agree.mismatches))
    report["golden"] = {"cases": agree.cases, "sdk_max_abs_diff": agree.max_abs_diff}
    run.log(f"   golden outputs: {agree.cases} sample records, SDK vs toolkit max abs diff {agree.max_abs_diff:.2g}")
    report["bundle"] = {"path": str(bundle.path), "files": bundle.manifest["files"]}
    return bundle


def _manifest_metadata(cfg: ExportConfig, src: _Sources, student: Any, ev: _Evaluation, chosen: Any,
                       golden: dict[str, Any]) -> dict[str, Any]:
    """What the bundle manifest says about the model beyond its files."""
    return {
        "description": "Taste2Vec Edge student: tasting record -> 128-d L2-normalized taste vector",
        "signatures": [{"name": signature_name(b, c), "inputs": input_signature(student.cfg, b, context=c),
                        "outputs": [{"name": OUTPUT_NAME, "shape": [1, student.cfg.embed_dim], "dtype": "float32"}]}
                       for b in student.cfg.buckets for c in (True, False)],
        "input_names": list(INPUT_NAMES),
        "embedding": {"dim": student.cfg.embed_dim, "normalized": "L2 (in the graph)"},
        "preprocessing": {"version": "1.0.0", "notes": "NFKC + lower-case, then tokenizer.json (WordPiece) and "
                          "sensory_lexicon.json (lexicon vector); metrics raw in spec order with a 0/1 mask (log1p and "
                          "scaling are in the graph); context snapshots encoded per record_spec.json, left-padded to "
                          f"{student.cfg.context_steps} steps with a mask", "bucket_rule": "smallest bucket >= tokens",
                          "context_rule": "a record without context snapshots may run embed_<bucket>_c0: the same "
                          "vector, without the context branch"},
        "quantization": {"variant": chosen.name, "description": VARIANT_DOC[chosen.name]},
        # measured with XNNPACK on this CPU: rounded so last-bit kernel differences between CPUs rarely show
        "parity": {k: round(v, 5) if isinstance(v, float) else v
                   for k, v in chosen.to_dict().items() if k not in ("ops", "latency_ms", "name")},
        "ops": chosen.ops,
        "quality": {"student": _brief(ev.q_student), "teacher": _brief(ev.q_teacher)},
        "architecture": student.cfg.to_dict(),
        "source": {"teacher_checkpoint_sha256": src.teacher_sha, "teacher_text_encoder": src.teacher.cfg.text_encoder,
                   "distill_config": cfg.distill.to_dict(),
                   "pinned_math": is_pinned(), "math_env": pinned_state()},
        "versions": _tool_versions(),
        "golden": {"file": GOLDEN_FILE, "cases": len(golden["cases"]), "producer": golden["producer"],
                   "embedding_max_abs_diff": golden["tolerance"]["embedding_max_abs_diff"]},
        "latency_budget": {"percentile": cfg.latency_percentile, "ms": cfg.latency_budget_ms},
    }


def _brief(q: dict[str, Any]) -> dict[str, float]:
    out = {"synthetic_recall@1": q["synthetic_retrieval"]["recall@1"],
           "synthetic_recall@10": q["synthetic_retrieval"]["recall@10"],
           "cross_lingual_agreement": q["cross_lingual"]["agreement"], "preference_auc": q["preference"]["auc"]}
    for _, suffix in TEST_SPLITS.values():
        if "real_review_retrieval" + suffix in q:
            out["real_review_recall@10" + suffix] = q["real_review_retrieval" + suffix]["recall@10"]
    return {k: round(float(v), 4) for k, v in out.items()}


def _tool_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("torch", "litert-torch", "ai-edge-quantizer", "ai-edge-litert", "onnx", "onnxruntime"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out
