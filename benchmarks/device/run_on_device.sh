#!/usr/bin/env bash
# Latency of the shipped model on a real Android phone, reported in taste2vec-bench's JSON fields.
#
# Needs: adb and a phone with USB debugging on; LiteRT's prebuilt native benchmark binary for the phone's ABI
# (android_aarch64 "benchmark_model", linked from https://ai.google.dev/edge/litert/models/measurement),
# passed as BENCHMARK_MODEL=/path/to/binary. Measures model invoke per token bucket (1 thread, 500 runs after
# 20 warm-up); the Android demo app's benchmark screen measures the whole embed (preprocessing in Kotlin).
#
#   BENCHMARK_MODEL=~/Downloads/android_aarch64_benchmark_model benchmarks/device/run_on_device.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BENCHMARK_MODEL:?set BENCHMARK_MODEL to LiteRT\'s android benchmark_model binary}
PY=${PY:-.venv/bin/python}
BUNDLE=${BUNDLE:-sdk/taste2vec/models/$(cat sdk/taste2vec/models/DEFAULT)}
OUT=${OUT:-runs/bench-device}
RUNS=${RUNS:-500}
THREADS=${THREADS:-1}
VOCAB=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['tokenizer']['vocab_size'] - 1)" "$BUNDLE/manifest.json")
VERSION=$(basename "$BUNDLE")
command -v adb >/dev/null || { echo "adb not found (Android platform-tools)" >&2; exit 2; }
adb get-state >/dev/null || { echo "no device: connect a phone with USB debugging on" >&2; exit 2; }
mkdir -p "$OUT"
adb push "$BIN" /data/local/tmp/benchmark_model >/dev/null
adb shell chmod +x /data/local/tmp/benchmark_model
adb push "$BUNDLE/model.tflite" /data/local/tmp/taste2vec.tflite >/dev/null
adb shell getprop ro.product.model > "$OUT/device.txt"
status=0
for b in $("$PY" -c "import json,sys; print(' '.join(str(x) for x in json.load(open(sys.argv[1]))['tokenizer']['buckets']))" "$BUNDLE/manifest.json"); do
  adb shell /data/local/tmp/benchmark_model --graph=/data/local/tmp/taste2vec.tflite --signature_to_run_for=embed_$b \
      --num_threads="$THREADS" --warmup_runs=20 --num_runs="$RUNS" --input_layer_value_range=token_ids,1,"$VOCAB" \
      --report_peak_memory_footprint=true > "$OUT/embed_$b.txt"
  "$PY" benchmarks/device/parse_benchmark_model.py "$OUT/embed_$b.txt" --bucket "$b" --model-version "$VERSION" \
      --budget-ms "${BUDGET_MS:-50}" > "$OUT/embed_$b.json" || status=1
  echo "bucket $b: $("$PY" -c "import json,sys; r=json.load(open(sys.argv[1])); l=r['latency_ms']; print(f\"mean {l['mean']:.3f} ms, max {l['max']:.3f} ms, init {r['load_ms']:.1f} ms\")" "$OUT/embed_$b.json")"
done
exit $status
