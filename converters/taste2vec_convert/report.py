"""The export report: ``export_report.json``, ``export_report.md`` and ``export_report.png``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .tflite import VARIANT_DOC


def variant_table(variants: list[dict[str, Any]], picked: str | None) -> str:
    """A Markdown table of the variants (also printed by the CLI)."""
    head = ("| variant | size KB | cos vs student mean / min | max abs diff | R@10 (kept of teacher) | "
            "cross-lingual | real R@10 dev / recent | p50 / p99 ms (embed_32) | gate |")
    rows = [head, "|" + "---|" * 9]
    for v in variants:
        lat = v["latency_ms"].get("embed_32") or next(iter(v["latency_ms"].values()), {"p50": 0, "p99": 0})
        gate = "PASS" + (" (picked)" if v["name"] == picked else "") if v["passed"] else \
            "fail: " + "; ".join(v["failures"])
        real = " / ".join(f"{x:.3f}" if x is not None else "-"
                          for x in (v["real_recall10"], v.get("real_recent_recall10")))
        rows.append(f"| {v['name']} | {v['size_bytes'] / 1024:.0f} | {v['cos_mean']:.5f} / {v['cos_min']:.4f} | "
                    f"{v['max_abs_diff']:.4f} | {v['recall10']:.3f} ({v['recall10_retained']:.1%}) | "
                    f"{v['cross_lingual']:.3f} | {real} | {lat['p50']:.3f} / {lat['p99']:.3f} | {gate} |")
    return "\n".join(rows)


def quality_table(teacher: dict[str, Any], student: dict[str, Any]) -> str:
    def row(label: str, get) -> str:
        try:
            return f"| {label} | {get(teacher):.3f} | {get(student):.3f} |"
        except (KeyError, TypeError):
            return f"| {label} | - | - |"

    rows = ["| metric (same evaluation as the reference) | teacher | student (PyTorch) |", "|---|---|---|",
            row("synthetic retrieval R@1", lambda r: r["synthetic_retrieval"]["recall@1"]),
            row("synthetic retrieval R@10", lambda r: r["synthetic_retrieval"]["recall@10"]),
            row("text only R@10", lambda r: r["ablation"]["text only"]["recall@10"]),
            row("sensory only R@10", lambda r: r["ablation"]["sensory only"]["recall@10"]),
            row("cross-lingual agreement", lambda r: r["cross_lingual"]["agreement"]),
            row("preference AUC", lambda r: r["preference"]["auc"]),
            row("real reviews R@10 (dev test split)", lambda r: r["real_review_retrieval"]["recall@10"]),
            row("real reviews R@10 (recent test split)", lambda r: r["real_review_retrieval_recent"]["recall@10"]),
            row("probe: review rating R^2 (dev)", lambda r: r["probe_review_rating"]["r2"]),
            row("probe: review rating R^2 (recent)", lambda r: r["probe_review_rating_recent"]["r2"]),
            row("probe: roast accuracy", lambda r: r["probe_review_roast"]["accuracy"]),
            row("probe: CQI total R^2", lambda r: r["probe_cqi_total"]["r2"])]
    return "\n".join(rows)


def write_report(out_dir: Path, report: dict[str, Any]) -> dict[str, Path]:
    """Write the three report files; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "export_report.json", "md": out_dir / "export_report.md",
             "png": out_dir / "export_report.png"}
    paths["json"].write_text(json.dumps(report, indent=2, ensure_ascii=False))
    picked = report.get("picked")
    md = [f"# Export report: {report['name']} {report['version']}", "",
          f"Source checkpoint sha256 `{report['source']['checkpoint_sha256']}`; student "
          f"{report['student']['parameters']:,} parameters; transfer set {report['transfer']['records']:,} records; "
          f"distilled {report['distill']['steps']} steps.", "",
          "## Variants (parity set: " + f"{report['parity_records']} held-out records)", "",
          variant_table(report["variants"], picked), "",
          f"Thresholds: {report['thresholds']}. Picked: **{picked}**"
          + (f" -> `{report['bundle']['path']}`" if report.get("bundle") else ""), "",
          "Variants: " + "; ".join(f"{k}: {v}" for k, v in VARIANT_DOC.items()), "",
          "## Teacher vs student", "", quality_table(report["quality"]["teacher"], report["quality"]["student"]), "",
          "## ONNX (cloud path)", "", f"{report['onnx']}", "", "## Timings (s)", "", f"{report['timings_s']}", ""]
    paths["md"].write_text("\n".join(md))
    plot(report, paths["png"])
    return paths


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.8))
    for v in report["variants"]:
        lat = v["latency_ms"].get("embed_32") or next(iter(v["latency_ms"].values()))
        kb = v["size_bytes"] / 1024
        color = "tab:green" if v["passed"] else "tab:red"
        a1.scatter(kb, v["recall10"], s=40 + 400 * lat["p50"], color=color, alpha=0.7)
        a1.annotate(f"{v['name']}\n{lat['p50']:.3f} ms", (kb, v["recall10"]), fontsize=8,
                    xytext=(5, 5), textcoords="offset points")
        a2.bar(v["name"], v["cos_mean"], color=color)
    t10 = report["quality"]["teacher"]["synthetic_retrieval"]["recall@10"]
    a1.axhline(t10, ls="--", color="gray", label=f"teacher R@10 {t10:.3f}")
    a1.axhline(t10 * report["thresholds"]["recall_retained"], ls=":", color="gray", label="gate")
    a1.set_xlabel("model size (KB)")
    a1.set_ylabel("same-coffee recall@10 (held-out)")
    a1.set_title("quality vs size (marker area ~ p50 latency, embed_32, 1 thread x86)")
    a1.legend(fontsize=8)
    a2.set_ylim(min(0.98, min(v["cos_mean"] for v in report["variants"]) - 0.005), 1.0005)
    a2.axhline(report["thresholds"]["cos_mean"], ls=":", color="gray")
    a2.set_title("mean cosine to the PyTorch student")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
