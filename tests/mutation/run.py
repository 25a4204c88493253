"""``make mutate``: mutation testing of the SDK's validation, bundle, signing, profile and curation modules.

Each module is mutated by cosmic-ray (one mutant at a time, on disk) and its fast tests run against every mutant; a
mutant the tests do not fail *survives*: a behaviour no test pins down. The operators are cosmic-ray's core ones
minus those that make noise rather than find gaps: ``|`` (type annotations, never evaluated here) and all but the
nearest swap of each arithmetic and comparison operator.

    python tests/mutation/run.py [--modules records profile] [--out runs/mutate]

Prints each module's score (killed / mutants) and every survivor (file:line, operator, diff); writes
``report.json`` and ``report.md`` into ``--out``. Resumable: a module's session (``<out>/<module>.sqlite``) keeps
finished mutants. Slow by nature (a test run per mutant): never part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# module -> its fast tests (seconds each with the tiny-bundle cache, see tests/conftest.py)
MODULES = {
    "records": ("sdk/taste2vec/records.py", ["tests/test_records.py", "tests/test_properties.py",
                                             "tests/test_features.py"]),
    "bundle": ("sdk/taste2vec/bundle.py", ["tests/test_bundle.py", "tests/test_hostile_bundles.py"]),
    "signing": ("sdk/taste2vec/signing.py", ["tests/test_signing.py", "tests/test_bundle.py"]),
    "profile": ("sdk/taste2vec/profile.py", ["tests/test_profile.py"]),
    "curation": ("sdk/taste2vec/curation.py", ["tests/test_curation.py"]),
}
NEAREST = {"Binary": "Add_Sub|Sub_Add|Mul_Div|Div_Mul|FloorDiv_Mul|Mod_FloorDiv|LShift_RShift|RShift_LShift|Pow_Mul",
           "Comparison": "Lt_LtE|LtE_Lt|Gt_GtE|GtE_Gt|Eq_NotEq|NotEq_Eq|Is_IsNot|IsNot_Is|In_NotIn|NotIn_In"}
EXCLUDE = ["core/ReplaceBinaryOperator_BitOr_.*", "core/ReplaceBinaryOperator_.*_BitOr",
           f"core/ReplaceBinaryOperator_(?!({NEAREST['Binary']})$).*",
           f"core/ReplaceComparisonOperator_(?!({NEAREST['Comparison']})$).*"]


def config_text(module: str, tests: list[str], python: str) -> str:
    test_command = f"{python} -m pytest -x -q -p no:cacheprovider -p no:randomly {' '.join(tests)}"
    return "\n".join([
        "[cosmic-ray]", f"module-path = {json.dumps(module)}", "timeout = 120.0", "excluded-modules = []",
        f"test-command = {json.dumps(test_command)}", "", "[cosmic-ray.distributor]", 'name = "local"', "",
        "[cosmic-ray.filters.operators-filter]", f"exclude-operators = {json.dumps(EXCLUDE)}", ""])


def run_module(name: str, out: Path, tools: Path, python: str) -> dict:
    """Mutate one module and test every mutant; its outcome counts and survivors."""
    module, tests = MODULES[name]
    config, session = out / f"{name}.toml", out / f"{name}.sqlite"
    config.write_text(config_text(module, tests, python))
    if not session.exists():
        subprocess.run([tools / "cosmic-ray", "init", config, session], check=True, cwd=ROOT)
        subprocess.run([tools / "cr-filter-operators", session, config], check=True, cwd=ROOT)
    subprocess.run([tools / "cosmic-ray", "exec", config, session], check=True, cwd=ROOT)
    dump = subprocess.run([tools / "cosmic-ray", "dump", session], check=True, cwd=ROOT, capture_output=True,
                          text=True).stdout
    counts: dict[str, int] = {}
    survivors = []
    for line in dump.splitlines():
        item, result = json.loads(line)
        outcome = (result or {}).get("test_outcome") or (result or {}).get("worker_outcome") or "pending"
        if (result or {}).get("worker_outcome") == "skipped":
            continue
        counts[outcome] = counts.get(outcome, 0) + 1
        if outcome == "survived":
            m = item["mutations"][0]
            survivors.append({"where": f"{m['module_path']}:{m['start_pos'][0]}", "function": m["definition_name"],
                              "operator": m["operator_name"].split("/")[-1], "diff": result.get("diff", "")})
    tested = counts.get("killed", 0) + counts.get("survived", 0)
    return {"module": module, "tests": tests, "counts": counts,
            "score": round(counts.get("killed", 0) / tested, 4) if tested else None, "survivors": survivors}


def report(results: dict[str, dict]) -> str:
    lines = ["| module | mutants tested | killed | survived | score |", "|---|---|---|---|---|"]
    for r in results.values():
        c = r["counts"]
        lines.append(f"| {r['module']} | {c.get('killed', 0) + c.get('survived', 0)} | {c.get('killed', 0)} | "
                     f"{c.get('survived', 0)} | {r['score']:.1%} |" if r["score"] is not None else
                     f"| {r['module']} | 0 | - | - | - |")
    for r in results.values():
        if r["survivors"]:
            lines += ["", f"## Survivors in {r['module']}", ""]
            for s in r["survivors"]:
                diff = "\n".join(x for x in s["diff"].splitlines() if x[:1] in "+-" and x[:3] not in ("+++", "---"))
                lines += [f"- `{s['where']}` ({s['function']}, {s['operator']})", "", "```diff", diff, "```"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="make mutate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--modules", nargs="+", choices=list(MODULES), default=list(MODULES))
    ap.add_argument("--out", default=str(ROOT / "runs" / "mutate"))
    ap.add_argument("--tools", default=str(ROOT / ".venv-mutate" / "bin"), help="where cosmic-ray is installed")
    a = ap.parse_args(argv)
    out, tools = Path(a.out).resolve(), Path(a.tools)
    if not (tools / "cosmic-ray").exists():
        ap.error(f"cosmic-ray not found in {tools} (make mutate installs it)")
    if subprocess.run(["git", "status", "--porcelain", "--", *[MODULES[m][0] for m in a.modules]], cwd=ROOT,
                      capture_output=True, text=True).stdout.strip():
        ap.error("the modules to mutate have uncommitted changes: commit or stash them first (mutants are written "
                 "on disk, one at a time, and restored)")
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TASTE2VEC_TEST_CACHE", str(out / "test-cache"))
    python = shutil.which("python", path=str(ROOT / ".venv" / "bin")) or sys.executable
    results = {m: run_module(m, out, tools, python) for m in a.modules}
    text = report(results)
    (out / "report.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "report.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
