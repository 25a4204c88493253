"""Side by side, in one run, on the same held-out records and one CPU thread each: the shipped TFLite model, the
PyTorch student, the PyTorch teacher (MiniLM + head) and the teacher in ONNX Runtime (and, with a model build, the
other quantization variants).

Latency is per record, end to end from the record (validation, preprocessing, tokenization, the model): what a
phone pays. It does not depend on trained weights, so without a model build the teacher and the student are their
architectures (the shipped bundle's and the teacher's config) with seeded random weights, and the recall@10 column
is what the export measured (the bundle manifest's ``quality``). With ``--model-dir`` pointing at a build of
``make model`` (teacher checkpoint, student, variants), every system is the trained one and recall@10 is measured
here: same-coffee recall@10 on held-out synthetic coffees, through the same per-record path.

    .venv/bin/python benchmarks/side_by_side.py [--model-dir runs/model] [--latency-records 200] [--out runs/bench]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from taste2vec.bench import summarize_ms
from taste2vec.bundle import ModelBundle, default_bundle_path
from taste2vec.features import FeatureExtractor
from taste2vec.helpformat import Parser
from taste2vec.preprocess import Preprocessor
from taste2vec.runtime import TasteModel
from taste2vec_convert.distill import load_student
from taste2vec_convert.student import INPUT_NAMES, Student, StudentConfig
from taste2vec_reference.checkpoint import load_checkpoint
from taste2vec_reference.evaluate import recall_at_k
from taste2vec_reference.model import Taste2Vec, load_minilm
from taste2vec_reference.synthetic import TasteWorld
from taste2vec_reference.train import TrainConfig, model_config_for

Embed = Callable[[dict[str, Any]], np.ndarray]


class TeacherEndToEnd(nn.Module):
    """MiniLM (mean-pooled) + the teacher's head as one module: token ids + features -> embedding."""

    def __init__(self, minilm: nn.Module, teacher: nn.Module) -> None:
        super().__init__()
        self.minilm, self.teacher = minilm, teacher

    def forward(self, input_ids, attention_mask, lexicon, metrics, metrics_mask, context, context_mask):
        h = self.minilm(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        m = attention_mask.unsqueeze(-1).float()
        text = (h * m).sum(1) / m.sum(1).clamp(min=1)
        return self.teacher({"text_features": text, "lexicon": lexicon, "metrics": metrics,
                             "metrics_mask": metrics_mask, "context": context, "context_mask": context_mask})


def build_parser() -> argparse.ArgumentParser:
    ap = Parser(prog="side_by_side.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", help="a model build (make model's MODEL_DIR: teacher/, export/ with the variants): "
                    "time and score the trained models; without it, the architectures (see above)")
    ap.add_argument("--latency-records", type=int, default=200, help="timed records per row")
    ap.add_argument("--warmup", type=int, default=20, help="untimed records before them")
    ap.add_argument("--out", default="runs/bench", help="folder for the table (Markdown + JSON)")
    return ap


@dataclass
class Models:
    """The models to time, and where their recall@10 comes from."""

    teacher: nn.Module
    student: nn.Module
    variants: dict[str, bytes]  # quantization variant -> TFLite bytes
    world: Any
    measured: bool  # trained models (recall measured here) or architectures (recall from the export)
    student_bytes: int


def load_models(md: Path | None, bundle: ModelBundle) -> Models:
    """A model build's trained teacher, student and variants, or, without one, the shipped bundle and the two
    architectures with seeded random weights."""
    from taste2vec_reference.synthetic import WorldConfig

    if md is not None and (md / "teacher" / "checkpoint").exists():
        teacher, tmeta = load_checkpoint(md / "teacher" / "checkpoint")
        student, _ = load_student(md / "export" / "student")
        variants = {f.stem: f.read_bytes() for f in sorted((md / "export" / "variants").glob("*.tflite"))}
        world = TrainConfig.from_dict(tmeta["train_config"]).world
        size = (md / "export" / "student" / "model.safetensors").stat().st_size
        return Models(teacher.eval(), student.eval(), variants, world, True, size)
    torch.manual_seed(0)
    teacher = Taste2Vec(model_config_for(bundle.lexicon, tuned=True)).eval()
    student = Student(StudentConfig.from_dict(bundle.manifest["architecture"])).eval()
    size = sum(p.numel() * p.element_size() for p in student.parameters())
    variants = {bundle.manifest["quantization"]["variant"]: bundle.model_bytes()}
    return Models(teacher, student, variants, WorldConfig(), False, size)


def systems_of(models: Models, bundle: ModelBundle, out: Path, sample: dict[str, Any]) -> dict[str, tuple[Embed, int]]:
    """record -> float32[128] for each system, with its size in bytes."""
    pre = Preprocessor.from_bundle(bundle)
    extractor = FeatureExtractor(bundle.lexicon)
    minilm, mtok = load_minilm()
    minilm.eval()
    mtok.enable_truncation(128)

    def teacher_inputs(r) -> dict[str, np.ndarray]:
        f = extractor(r)
        enc = mtok.encode(f.notes)
        return {"input_ids": np.array([enc.ids], np.int64), "attention_mask": np.array([enc.attention_mask], np.int64),
                "lexicon": f.lexicon[None], "metrics": f.metrics[None], "metrics_mask": f.metrics_mask[None],
                "context": f.context[None], "context_mask": f.context_mask[None]}

    def torch_student(r) -> np.ndarray:
        t = pre(r).tensors
        with torch.inference_mode():
            return models.student({k: torch.from_numpy(t[k]) for k in INPUT_NAMES})[0].numpy()

    e2e = TeacherEndToEnd(minilm, models.teacher).eval()

    def torch_teacher(r) -> np.ndarray:
        with torch.inference_mode():
            return e2e(*(torch.from_numpy(v) for v in teacher_inputs(r).values()))[0].numpy()

    sess, onnx_bytes = _teacher_onnx(e2e, teacher_inputs(sample), out / "teacher_e2e.onnx")
    shipped = bundle.manifest["quantization"]["variant"]
    systems: dict[str, tuple[Embed, int]] = {}
    for variant, data in models.variants.items():
        m = TasteModel(data, num_threads=1)
        label = f"TFLite {variant}" + (" (shipped)" if variant == shipped else "")
        systems[label] = ((lambda r, m=m: m.run(pre(r).tensors)[0]), len(data))
    systems["PyTorch student"] = (torch_student, models.student_bytes)
    systems["PyTorch teacher (MiniLM + head)"] = (torch_teacher, sum(p.numel() * p.element_size()
                                                                     for p in e2e.parameters()))
    systems["ONNX Runtime teacher (MiniLM + head)"] = ((lambda r: sess.run(None, teacher_inputs(r))[0][0]), onnx_bytes)
    return systems


def _teacher_onnx(e2e: nn.Module, sample: dict[str, np.ndarray], path: Path) -> tuple[Any, int]:
    """The end-to-end teacher exported to ONNX (dynamic token axis) and an ONNX Runtime session on one thread."""
    import onnxruntime as ort

    names = ["input_ids", "attention_mask", "lexicon", "metrics", "metrics_mask", "context", "context_mask"]
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(e2e, tuple(torch.from_numpy(sample[k]) for k in names), str(path), input_names=names,
                          output_names=["embedding"], opset_version=17, dynamo=False,
                          dynamic_axes={"input_ids": {1: "tokens"}, "attention_mask": {1: "tokens"}})
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]), path.stat().st_size


def exported_recall(name: str, bundle: ModelBundle) -> float | None:
    """Without a model build: the synthetic recall@10 the export measured for this system (the manifest's)."""
    q = bundle.manifest.get("quality", {})
    if "(shipped)" in name:
        return bundle.manifest.get("parity", {}).get("recall10")
    key = "student" if "student" in name else "teacher" if "teacher" in name else None
    return q.get(key, {}).get("synthetic_recall@10") if key else None


def measure(systems: dict[str, tuple[Embed, int]], rec_a: list, rec_b: list, lat_records: list, warmup: int,
            recall: Callable[[str], float | None] | None) -> dict[str, dict[str, Any]]:
    """Per system: size, recall@10 (measured when ``recall`` is None) and latency percentiles."""
    rows = {}
    for name, (fn, size) in systems.items():
        if recall is None:
            r10 = recall_at_k(np.stack([fn(r) for r in rec_a]), np.stack([fn(r) for r in rec_b]))["recall@10"]
        else:
            r10 = recall(name)
        for r in lat_records[:warmup]:
            fn(r)
        ts = []
        for r in lat_records:
            t0 = time.perf_counter()
            fn(r)
            ts.append((time.perf_counter() - t0) * 1e3)
        rows[name] = {"size_bytes": int(size), "recall@10": None if r10 is None else float(r10),
                      "latency_ms": summarize_ms(ts)}
        print(f"{name:<40} R@10 {'-' if r10 is None else f'{r10:.3f}'}  p50 {rows[name]['latency_ms']['p50']:.3f} ms",
              flush=True)
    return rows


def table(rows: dict[str, dict[str, Any]], n_records: int, n_coffees: int, measured: bool) -> str:
    ship = next(k for k in rows if "(shipped)" in k)
    base = rows[ship]["latency_ms"]["p50"]
    source = (f"recall@10 on {n_coffees} held-out coffees, measured here" if measured else
              "recall@10 as the export measured it (bundle manifest); latency of the architectures, seeded weights")
    lines = [f"Side by side, 1 thread, x86_64, {n_records} held-out records end to end (record -> vector); {source}",
             "", "| system | size | recall@10 | p50 ms | p90 ms | p99 ms | p50 vs shipped |",
             "|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        lat, r10 = r["latency_ms"], r["recall@10"]
        lines.append(f"| {name} | {r['size_bytes'] / 1024:,.0f} KB | {'-' if r10 is None else f'{r10:.3f}'} | "
                     f"{lat['p50']:.3f} | {lat['p90']:.3f} | {lat['p99']:.3f} | {lat['p50'] / base:.1f}x |")
    return "\n".join(lines)


def main() -> int:
    args = build_parser().parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bundle = ModelBundle.load(default_bundle_path())
    models = load_models(Path(args.model_dir) if args.model_dir else None, bundle)
    world = TasteWorld(models.world, bundle.lexicon)
    test = world.coffees("test")
    rec_a = [world.record(c.id, 100).record for c in test]
    rec_b = [world.record(c.id, 101).record for c in test]
    lat_records = (rec_a + rec_b)[:args.latency_records]
    systems = systems_of(models, bundle, out, rec_a[0])
    rows = measure(systems, rec_a, rec_b, lat_records, args.warmup,
                   None if models.measured else (lambda name: exported_recall(name, bundle)))
    text = table(rows, len(lat_records), len(test), models.measured)
    print("\n" + text)
    (out / "side_by_side.md").write_text(text + "\n")
    (out / "side_by_side.json").write_text(json.dumps({"shipped": next(k for k in rows if "(shipped)" in k),
                                                      "records": len(lat_records), "coffees": len(test),
                                                      "recall_measured": models.measured, "systems": rows},
                                                     indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
