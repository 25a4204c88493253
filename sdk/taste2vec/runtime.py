"""The LiteRT interpreter behind the SDK: load a Taste2Vec flatbuffer, pick a length bucket, run it.

Interpreter lookup order: ``ai_edge_litert`` (LiteRT, the supported runtime), then ``tflite_runtime``, then
``tensorflow.lite`` (fallbacks for machines that already have one). TensorFlow is imported only when neither
LiteRT package is installed; with the SDK's own dependency (ai-edge-litert) it never is. Torch and onnx never are.

A Taste2Vec model has one signature per token-length bucket (``embed_16``, ``embed_32``, ...), each taking
``token_ids`` int32[1, T], ``lexicon``, ``metrics``, ``metrics_mask``, ``context``, ``context_mask`` and returning
``embedding`` float[1, 128]. A bucket may also have ``embed_<T>_c0``, the same graph for records without context
snapshots (no context inputs, no LSTM): it gives those records the same vector in half the time, and is used
for them when present. Full-integer models take int8 tensors: float inputs are quantized with each
tensor's scale / zero point and the output is dequantized, so callers always pass and get floats.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, NamedTuple

import numpy as np

from .errors import Taste2VecError

_SIG = re.compile(r"^embed_(\d+)$")


class RuntimeUnavailableError(Taste2VecError):
    """No LiteRT interpreter is installed."""


class ModelRuntimeError(Taste2VecError):
    """A model file cannot be loaded or does not have the Taste2Vec signatures."""


def interpreter_class() -> tuple[type, str]:
    """The first available interpreter class and the name of the package it came from."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai_edge_litert"
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter  # type: ignore[import-not-found]

        return Interpreter, "tflite_runtime"
    except ImportError:
        pass
    try:
        from tensorflow import lite  # type: ignore[import-not-found]  # last resort, heavy

        return lite.Interpreter, "tensorflow.lite"
    except ImportError as e:
        raise RuntimeUnavailableError("no LiteRT interpreter found (tried ai_edge_litert, tflite_runtime, "
                                      "tensorflow.lite): pip install ai-edge-litert") from e


VERBOSE_ENV = "TASTE2VEC_VERBOSE"
# The native runtime's one-line notices on stderr that say nothing a caller can act on.
_NATIVE_NOISE = (b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",)
_stderr_lock = threading.Lock()


def _env_verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "").strip() not in ("", "0")


_verbose = _env_verbose()


def set_verbose(on: bool) -> None:
    """Show (True) or hide (False, the default; ``$TASTE2VEC_VERBOSE=1`` shows) the LiteRT runtime's notices."""
    global _verbose
    _verbose = bool(on) or _env_verbose()


@contextlib.contextmanager
def _quiet_native_notices() -> Iterator[None]:
    """Drop the native runtime's known notices (:data:`_NATIVE_NOISE`) from stderr while a model is prepared.

    LiteRT's C++ logger writes straight to file descriptor 2 and its level cannot be set from Python, so fd 2 is
    pointed at a temporary file for the duration and everything else written there (by any thread) is replayed
    to the real stderr afterwards: nothing but those notices is lost. Without a usable fd 2 nothing is filtered.
    """
    if _verbose:
        yield
        return
    with _stderr_lock:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):
            saved = None
        if saved is None:
            yield
            return
        with tempfile.TemporaryFile() as tmp:
            os.dup2(tmp.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                tmp.seek(0)
                lines = tmp.read().splitlines(keepends=True)
                kept = b"".join(line for line in lines if line.rstrip(b"\r\n") not in _NATIVE_NOISE)
                if kept:
                    os.write(2, kept)


class _Feed(NamedTuple):
    """How one signature input is fed: its dtype and, for an integer input, (scale, zero point). Worked out
    once per signature at load (``np.issubdtype`` on every call was a tenth of the inference stage)."""

    name: str
    dtype: np.dtype
    quant: tuple[float, int] | None

    @classmethod
    def of(cls, name: str, detail: Mapping[str, Any]) -> "_Feed":
        dtype = np.dtype(detail["dtype"])
        if np.issubdtype(dtype, np.floating) or dtype == np.int32:
            return cls(name, dtype, None)
        scale, zero = detail["quantization"]
        if not scale:
            raise ModelRuntimeError(f"input {name} is {dtype.name} without quantization parameters")
        return cls(name, dtype, (float(scale), int(zero)))

    def array(self, x: Any) -> np.ndarray:
        """``x`` as this input's dtype: passed through when it already is, quantized for an integer input."""
        if self.quant is None:
            if type(x) is np.ndarray and x.dtype == self.dtype and x.flags.c_contiguous:
                return x
            return np.ascontiguousarray(x, dtype=self.dtype)
        scale, zero = self.quant
        info = np.iinfo(self.dtype)
        return np.clip(np.round(np.asarray(x, np.float32) / scale + zero), info.min, info.max).astype(self.dtype)


def _dequantize(y: np.ndarray, detail: Mapping[str, Any]) -> np.ndarray:
    if y.dtype == np.float32:
        return y
    if np.issubdtype(y.dtype, np.floating):
        return y.astype(np.float32)
    scale, zero = detail["quantization"]
    return ((y.astype(np.float32) - zero) * scale).astype(np.float32)


_FEATURE_INPUTS = ("lexicon", "metrics", "metrics_mask", "context", "context_mask")
CONTEXT_INPUTS = ("context", "context_mask")  # what embed_<bucket>_c0 (records without context) leaves out
_BARE_INPUTS = tuple(k for k in _FEATURE_INPUTS if k not in CONTEXT_INPUTS)
_DIRECT = ("SetTensor", "Invoke", "GetTensor", "AllocateTensors")


def _runner_call(runner: Any, outputs: Mapping[str, Any]) -> Callable[[list[np.ndarray]], np.ndarray]:
    """One signature called through its SignatureRunner (the inputs in ``runner``'s input order)."""
    names, out = list(runner.get_input_details()), next(iter(outputs))
    return lambda arrays: runner(**dict(zip(names, arrays)))[out]


def _direct_call(runner: Any, inputs: Mapping[str, Any], outputs: Mapping[str, Any]
                 ) -> Callable[[list[np.ndarray]], np.ndarray] | None:
    """One signature called through the interpreter's own set / invoke / get, as its SignatureRunner does, without
    the runner's per-call resizing and re-allocation (the shapes are fixed: the tensors are allocated once here).
    None where the interpreter does not expose them (another runtime package)."""
    wrapper, sub = getattr(runner, "_interpreter_wrapper", None), getattr(runner, "_subgraph_index", None)
    if wrapper is None or not isinstance(sub, int) or not all(hasattr(wrapper, n) for n in _DIRECT):
        return None
    wrapper.AllocateTensors(sub)
    indices = [int(d["index"]) for d in inputs.values()]
    out = int(next(iter(outputs.values()))["index"])
    set_tensor, invoke, get_tensor = wrapper.SetTensor, wrapper.Invoke, wrapper.GetTensor

    def call(arrays: list[np.ndarray]) -> np.ndarray:
        for i, a in zip(indices, arrays):
            set_tensor(i, a, sub)
        invoke(sub)
        return get_tensor(out, sub)

    return call


def signature_name(bucket: int, context: bool = True) -> str:
    """``embed_<bucket>``, or ``embed_<bucket>_c0``: the bucket's graph for records without context snapshots."""
    return f"embed_{bucket}" if context else f"embed_{bucket}_c0"


def _check_signature(name: str, bucket: int, inputs: Mapping[str, Any], outputs: Mapping[str, Any],
                     features: tuple[str, ...] = _FEATURE_INPUTS) -> None:
    """A Taste2Vec signature: token_ids int32[1, bucket], the feature inputs with batch 1, one output [1, D].
    Checked at load, so a damaged model is refused before its first record rather than on it."""
    missing = {"token_ids", *features} - set(inputs)
    if missing or len(inputs) != 1 + len(features):
        raise ModelRuntimeError(f"signature {name} has inputs {sorted(inputs)}, expected "
                                f"{sorted({'token_ids', *features})}")
    tok = inputs["token_ids"]
    if list(tok["shape"]) != [1, bucket] or tok["dtype"] != np.int32:
        raise ModelRuntimeError(f"signature {name}: token_ids is {list(tok['shape'])} "
                                f"{np.dtype(tok['dtype']).name}, expected [1, {bucket}] int32")
    for k in features:
        shape = list(inputs[k]["shape"])
        if not shape or shape[0] != 1 or any(d <= 0 or d > 4096 for d in shape):
            raise ModelRuntimeError(f"signature {name}: input {k} has shape {shape}")
    if len(outputs) != 1:
        raise ModelRuntimeError(f"signature {name} has {len(outputs)} outputs, expected 1")
    out = next(iter(outputs.values()))
    if len(out["shape"]) != 2 or out["shape"][0] != 1 or not 0 < out["shape"][1] <= 4096:
        raise ModelRuntimeError(f"signature {name}: output shape {list(out['shape'])}, expected [1, D]")


def _all_zero(mask: Any) -> bool:
    """Whether a float32 mask is all +0.0, by its bytes (a tenth of ``np.any``'s time). -0.0 or another type says
    False: the full graph then runs, which is right for any mask."""
    return type(mask) is np.ndarray and mask.dtype == np.float32 and mask.tobytes() == bytes(mask.nbytes)


class _Signature(NamedTuple):
    """One loaded signature: its inputs' details and feeds (in the runner's order), its call and its output."""

    inputs: Mapping[str, Any]
    feeds: tuple[_Feed, ...]
    call: Callable[[list[np.ndarray]], np.ndarray]
    output: Mapping[str, Any]

    @classmethod
    def load(cls, interp: Any, name: str, bucket: int, features: tuple[str, ...]) -> "_Signature":
        r = interp.get_signature_runner(name)
        inputs, outputs = r.get_input_details(), r.get_output_details()
        _check_signature(name, bucket, inputs, outputs, features)
        return cls(inputs, tuple(_Feed.of(k, d) for k, d in inputs.items()),
                   _direct_call(r, inputs, outputs) or _runner_call(r, outputs), next(iter(outputs.values())))


DELEGATES = ("xnnpack", "none")  # what may be asked for: LiteRT's default CPU delegate, or its builtin kernels only


def applied_delegate(interp: Any) -> str:
    """The delegate that runs an allocated interpreter's graph, read from the graph itself: a delegate replaces the
    operations it takes by ``DELEGATE`` nodes, and on CPU LiteRT's only default delegate is XNNPACK. ``"none"``: the
    builtin kernels run everything (asked for, or XNNPACK did not start, e.g. on a CPU it does not recognize);
    ``"unknown"``: this interpreter package does not expose its nodes."""
    wrapper = getattr(interp, "_interpreter", None)
    if wrapper is None or not (hasattr(wrapper, "NumNodes") and hasattr(wrapper, "NodeName")):
        return "unknown"
    return "xnnpack" if any(wrapper.NodeName(i) == "DELEGATE" for i in range(wrapper.NumNodes())) else "none"


def _interpreter(cls: type, model_content: bytes, num_threads: int, delegate: str) -> Any:
    if delegate not in DELEGATES:
        raise ModelRuntimeError(f"delegate {delegate!r} is not one of {DELEGATES}")
    if delegate == "xnnpack":
        return cls(model_content=model_content, num_threads=num_threads)
    resolver = getattr(sys.modules[cls.__module__], "OpResolverType", None)
    if resolver is None:
        raise ModelRuntimeError(f"{cls.__module__} cannot turn its default delegates off")
    return cls(model_content=model_content, num_threads=num_threads,
               experimental_op_resolver_type=resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES)


class TasteModel:
    """A loaded Taste2Vec flatbuffer. ``run`` is thread-safe (one interpreter call at a time).

    Use one instance per thread for parallel throughput; a single instance serializes calls. ``delegate``:
    ``"xnnpack"`` (LiteRT's default, as on a phone) or ``"none"`` (the builtin kernels); :attr:`delegate` then says
    what the runtime actually applied (see :func:`applied_delegate`). ``context_free``: run a record without context
    snapshots through its bucket's ``embed_<bucket>_c0`` where the model has one (the same vector; False runs the
    full graph for every record).

    Raises:
        RuntimeUnavailableError: no LiteRT interpreter is installed.
        ModelRuntimeError: the model cannot be loaded, or its signatures are not Taste2Vec's.
    """

    def __init__(self, model_content: bytes, num_threads: int = 1, delegate: str = "xnnpack",
                 context_free: bool = True) -> None:
        cls, self.runtime = interpreter_class()
        self._full: dict[int, _Signature] = {}  # bucket -> embed_<bucket>
        self._bare: dict[int, _Signature] = {}  # bucket -> embed_<bucket>_c0, for records without context
        try:  # any interpreter failure while loading is this model's fault: one typed error
            with _quiet_native_notices():  # the delegate is applied (and announces itself) at allocation
                self._interp = _interpreter(cls, model_content, num_threads, delegate)
                self._interp.allocate_tensors()
            self.delegate = applied_delegate(self._interp)
            sigs = self._interp.get_signature_list()
            self.buckets = tuple(sorted(int(m.group(1)) for k in sigs if (m := _SIG.match(k))))
            if not self.buckets or len(self.buckets) > 16:
                raise ModelRuntimeError(f"model has no embed_<length> signatures, or too many (has {sorted(sigs)})")
            for b in self.buckets:
                full, name = signature_name(b), signature_name(b, context=False)
                self._full[b] = _Signature.load(self._interp, full, b, _FEATURE_INPUTS)
                if context_free and name in sigs:
                    bare = _Signature.load(self._interp, name, b, _BARE_INPUTS)
                    if list(bare.output["shape"]) != list(self._full[b].output["shape"]):
                        raise ModelRuntimeError(f"signature {name}: output shape {list(bare.output['shape'])}, "
                                                f"{full} has {list(self._full[b].output['shape'])}")
                    self._bare[b] = bare
        except ModelRuntimeError:
            raise
        except (ValueError, RuntimeError, KeyError, TypeError, IndexError, AttributeError, OverflowError) as e:
            raise ModelRuntimeError(f"the LiteRT runtime cannot load this model: {type(e).__name__}: {e}") from e
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: str | Path, num_threads: int = 1, delegate: str = "xnnpack") -> "TasteModel":
        return cls(Path(path).read_bytes(), num_threads, delegate)

    def input_details(self, bucket: int) -> dict[str, Any]:
        return self._full[bucket].inputs

    @property
    def context_free(self) -> bool:
        """Records without context snapshots run each bucket's ``embed_<bucket>_c0`` signature (same vector)."""
        return bool(self._bare)

    def bucket_for(self, n_tokens: int) -> int:
        """The smallest bucket that holds ``n_tokens`` (the largest if none does)."""
        for b in self.buckets:
            if n_tokens <= b:
                return b
        return self.buckets[-1]

    def run(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Embed one record's arrays (leading batch dim 1; token_ids already padded to a bucket length). A record
        whose ``context_mask`` is all zero runs the bucket's signature without context where the model has one.

        Raises:
            ModelRuntimeError: the length is not a bucket, an input is missing, or the interpreter failed.
        """
        length = int(np.shape(inputs["token_ids"])[-1])
        sig = self._full.get(length)
        if sig is None:
            raise ModelRuntimeError(f"token_ids length {length} is not one of the model's buckets {self.buckets}")
        try:
            if length in self._bare and _all_zero(inputs["context_mask"]):
                sig = self._bare[length]  # the full graph ignores context under an all-zero mask
            arrays = [f.array(inputs[f.name]) for f in sig.feeds]
        except KeyError:
            raise ModelRuntimeError(f"missing model inputs {sorted(set(sig.inputs) - set(inputs))}") from None
        try:
            with self._lock:
                out = sig.call(arrays)
            return _dequantize(out, sig.output)
        except (ValueError, RuntimeError, KeyError, TypeError, IndexError) as e:
            raise ModelRuntimeError(f"the model failed on bucket {length}: {type(e).__name__}: {e}") from e
