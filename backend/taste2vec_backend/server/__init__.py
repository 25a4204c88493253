"""The cloud inference server: the SDK's bundle and vectors behind HTTP (``taste2vec-serve``; extra ``serve``).

    from taste2vec_backend.server import BundleSource, ServerConfig, create_app
    app = create_app(BundleSource(path), ServerConfig(max_batch=64))   # any ASGI server; the CLI uses uvicorn

See :mod:`.app` for the routes, :mod:`.batcher` for micro-batching, :mod:`.engine` for what runs the model and
:mod:`.loadtest` for ``make bench-serve``.
"""

from .app import ServerConfig, create_app
from .engine import BundleSource, Engine, RegistrySource, make_runner

__all__ = ["BundleSource", "Engine", "RegistrySource", "ServerConfig", "create_app", "make_runner"]
