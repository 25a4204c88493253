"""Third-party log lines that tell a user of our commands nothing they can act on, kept out of their output.

- ``torchao``: transformers imports it for its quantizers; on a CPU-only machine it logs "Failed to load
  .../_C_mxfp8...so" (CUDA kernels) at WARNING on every start.
- ``torch.utils._pytree``: torchao registers Enum classes as pytree constants, which torch logs as deprecated.

Errors from these loggers still show; ``TASTE2VEC_VERBOSE=1`` (as for LiteRT's notices) shows everything.
"""

from __future__ import annotations

import logging
import os

QUIET_LOGGERS = ("torchao", "torch.utils._pytree")


def verbose_requested() -> bool:
    """``TASTE2VEC_VERBOSE`` set (and not ``0``): show third-party output. The SDK's runtime reads the variable the
    same way; this module imports nothing of the SDK, since the command lines load it before pinning numpy."""
    return os.environ.get("TASTE2VEC_VERBOSE", "").strip() not in ("", "0")


def quiet_third_party() -> None:
    """Raise the third-party loggers above to ERROR, unless :func:`verbose_requested` (call before torch or
    transformers load: a logger's level applies from then on)."""
    if verbose_requested():
        return
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
