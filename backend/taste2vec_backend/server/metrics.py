"""Prometheus metrics of one server (its own registry, so several apps can live in one process, e.g. in tests).

Names follow Prometheus conventions (``_total`` counters, ``_seconds`` histograms) under ``taste2vec_``:

- ``taste2vec_requests_total{route, status}``, ``taste2vec_request_duration_seconds{route}`` (histogram)
- ``taste2vec_records_total{route}``: records embedded
- ``taste2vec_queue_seconds{route}``, ``taste2vec_preprocess_seconds{route}``, ``taste2vec_inference_seconds{route}``
  (histograms, per request: where its time went; also the ``x-*-time`` response headers), ``taste2vec_active_requests``
- ``taste2vec_batch_size`` (histogram, records per engine call), ``taste2vec_queue_depth`` (records waiting or
  in the engine)
- ``taste2vec_errors_total{type}``: refused requests by error type (validation error class, body too large,
  overloaded, unauthorized, ...)
- ``taste2vec_model_info{model_version}`` (1 for the version being served), ``taste2vec_reloads_total{result}``
- ``taste2vec_source_ok`` (0 while the watched registry or bundle is unreadable: the server keeps serving what it
  has), ``taste2vec_source_errors_total{type}``
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (.0005, .001, .002, .003, .005, .0075, .01, .015, .025, .05, .1, .25, .5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class ServerMetrics:
    """The counters, histograms and gauges of one app."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.requests = Counter("taste2vec_requests", "HTTP requests by route and status", ["route", "status"],
                                registry=r)
        self.latency = Histogram("taste2vec_request_duration_seconds", "Request latency by route", ["route"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.records = Counter("taste2vec_records", "Records embedded, by route", ["route"], registry=r)
        # where a request's time went (TEI's split): waiting for an engine, preprocessing, the model
        self.queue_time = Histogram("taste2vec_queue_seconds", "Per request: time its records waited for an engine",
                                    ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.preprocess_time = Histogram("taste2vec_preprocess_seconds", "Per request: validation and preprocessing "
                                         "of its records", ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.inference_time = Histogram("taste2vec_inference_seconds", "Per request: model runs of its records",
                                        ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.active = Gauge("taste2vec_active_requests", "Requests being answered now (--max-concurrent-requests)",
                            registry=r)
        self.batch_size = Histogram("taste2vec_batch_size", "Records per engine call", buckets=BATCH_BUCKETS,
                                    registry=r)
        self.queue_depth = Gauge("taste2vec_queue_depth", "Records queued or in the engine", registry=r)
        self.errors = Counter("taste2vec_errors", "Refused requests by error type", ["type"], registry=r)
        self.model_info = Gauge("taste2vec_model_info", "The model version being served (value 1)",
                                ["model_version"], registry=r)
        self.reloads = Counter("taste2vec_reloads", "Model reloads by result", ["result"], registry=r)
        self.source_ok = Gauge("taste2vec_source_ok", "1 when the last look at the model source (registry or "
                               "bundle) succeeded, 0 when it was unreadable or refused", registry=r)
        self.source_errors = Counter("taste2vec_source_errors", "Failed looks at the model source by error type",
                                     ["type"], registry=r)
        self.source_ok.set(1)

    def serving(self, old: str | None, new: str) -> None:
        if old is not None and old != new:
            self.model_info.remove(old)
        self.model_info.labels(new).set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)
