"""Side by side, in one run, on the same held-out records and one CPU thread each: the shipped TFLite model, the
other quantization variants, the PyTorch student, the PyTorch teacher and the teacher in ONNX Runtime.

Latency is per record, end to end from the record (validation, preprocessing, tokenization, the model): what a
phone pays. Quality is same-coffee recall@10 on the held-out synthetic coffees (two tastings of each test
coffee; gallery = all of them), computed through the same per-record path. Needs the toolkit environment and
the artefacts of ``make model`` (runs/model: teacher checkpoint, student, variants).

    .venv/bin/python benchmarks/side_by_side.py [--model-dir runs/model] [--latency-records 200] [--out runs/bench]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import time
import warnings
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
from taste2vec_convert.student import INPUT_NAMES
from taste2vec_reference.checkpoint import load_checkpoint
from taste2vec_reference.evaluate import recall_at_k
from taste2vec_reference.model import load_minilm
from taste2vec_reference.synthetic import TasteWorld
from taste2vec_reference.train import TrainConfig

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
    ap.add_argument("--model-dir", default="runs/model",
                    help="a model build (make model's MODEL_DIR): teacher/, export/ with the variants")
    ap.add_argument("--latency-records", type=int, default=200, help="timed records per row")
    ap.add_argument("--warmup", type=int, default=20, help="untimed records before them")
    ap.add_argument("--out", default="runs/bench", help="folder for the table (Markdown + JSON)")
    return ap


def main() -> int:
    args = build_parser().parse_args()
    torch.set_num_threads(1)
    md = Path(args.model_dir)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    bundle = ModelBundle.load(default_bundle_path())
    pre = Preprocessor.from_bundle(bundle)
    teacher, tmeta = load_checkpoint(md / "teacher" / "checkpoint")
    teacher.eval()
    student, _ = load_student(md / "export" / "student")
    student.eval()
    minilm, mtok = load_minilm()
    minilm.eval()
    mtok.enable_truncation(128)
    extractor = FeatureExtractor(bundle.lexicon)
    world = TasteWorld(TrainConfig.from_dict(tmeta["train_config"]).world, bundle.lexicon)
    test = world.coffees("test")
    rec_a = [world.record(c.id, 100).record for c in test]
    rec_b = [world.record(c.id, 101).record for c in test]

    # --- the systems: record -> float32[128] ---------------------------------------------------------------
    def tflite(model_bytes: bytes) -> Embed:
        m = TasteModel(model_bytes, num_threads=1)
        return lambda r: m.run(pre(r).tensors)[0]

    def torch_student(r) -> np.ndarray:
        t = pre(r).tensors
        with torch.inference_mode():
            return student({k: torch.from_numpy(t[k]) for k in INPUT_NAMES})[0].numpy()

    def teacher_inputs(r) -> dict[str, np.ndarray]:
        f = extractor(r)
        enc = mtok.encode(f.notes)
        return {"input_ids": np.array([enc.ids], np.int64), "attention_mask": np.array([enc.attention_mask], np.int64),
                "lexicon": f.lexicon[None], "metrics": f.metrics[None], "metrics_mask": f.metrics_mask[None],
                "context": f.context[None], "context_mask": f.context_mask[None]}

    e2e = TeacherEndToEnd(minilm, teacher).eval()

    def torch_teacher(r) -> np.ndarray:
        x = teacher_inputs(r)
        with torch.inference_mode():
            return e2e(*(torch.from_numpy(v) for v in x.values()))[0].numpy()

    onnx_path = out / "teacher_e2e.onnx"
    names = ["input_ids", "attention_mask", "lexicon", "metrics", "metrics_mask", "context", "context_mask"]
    sample = teacher_inputs(rec_a[0])
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(e2e, tuple(torch.from_numpy(sample[k]) for k in names), str(onnx_path), input_names=names,
                          output_names=["embedding"], opset_version=17, dynamo=False,
                          dynamic_axes={"input_ids": {1: "tokens"}, "attention_mask": {1: "tokens"}})
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])

    def onnx_teacher(r) -> np.ndarray:
        return sess.run(None, teacher_inputs(r))[0][0]

    shipped = bundle.manifest["quantization"]["variant"]
    systems: dict[str, tuple[Embed, int]] = {}
    for vf in sorted((md / "export" / "variants").glob("*.tflite")):
        data = vf.read_bytes()
        label = f"TFLite {vf.stem}" + (" (shipped)" if vf.stem == shipped else "")
        systems[label] = (tflite(data), len(data))
    systems["PyTorch student"] = (torch_student, (md / "export" / "student" / "model.safetensors").stat().st_size)
    teacher_bytes = sum(p.numel() * p.element_size() for p in e2e.parameters())
    systems["PyTorch teacher (MiniLM + head)"] = (torch_teacher, teacher_bytes)
    systems["ONNX Runtime teacher (MiniLM + head)"] = (onnx_teacher, onnx_path.stat().st_size)

    # --- quality, then latency, same records for all ------------------------------------------------------------
    rows = {}
    lat_records = (rec_a + rec_b)[:args.latency_records]
    for name, (fn, size) in systems.items():
        a = np.stack([fn(r) for r in rec_a])
        b = np.stack([fn(r) for r in rec_b])
        r10 = recall_at_k(a, b)["recall@10"]
        for r in lat_records[:args.warmup]:
            fn(r)
        ts = []
        for r in lat_records:
            t0 = time.perf_counter()
            fn(r)
            ts.append((time.perf_counter() - t0) * 1e3)
        rows[name] = {"size_bytes": int(size), "recall@10": float(r10), "latency_ms": summarize_ms(ts)}
        print(f"{name:<40} R@10 {r10:.3f}  p50 {rows[name]['latency_ms']['p50']:.3f} ms", flush=True)
    ship = next(k for k in rows if "(shipped)" in k)
    base = rows[ship]["latency_ms"]["p50"]
    lines = [f"Side by side, 1 thread, x86_64, {len(lat_records)} held-out records end to end (record -> vector); "
             f"recall@10 on {len(test)} held-out coffees", "",
             "| system | size | recall@10 | p50 ms | p90 ms | p99 ms | p50 vs shipped |", "|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        lat = r["latency_ms"]
        lines.append(f"| {name} | {r['size_bytes'] / 1024:,.0f} KB | {r['recall@10']:.3f} | {lat['p50']:.3f} | "
                     f"{lat['p90']:.3f} | {lat['p99']:.3f} | {lat['p50'] / base:.1f}x |")
    table = "\n".join(lines)
    print("\n" + table)
    (out / "side_by_side.md").write_text(table + "\n")
    (out / "side_by_side.json").write_text(json.dumps({"shipped": ship, "records": len(lat_records),
                                                      "coffees": len(test), "systems": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
