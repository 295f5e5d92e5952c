"""Marquee's Python SDK: a client of a Marquee server's HTTP API (pure Python, standard library;
numpy and pandas used when importable).

    import marquee
    client = marquee.Client("http://127.0.0.1:8080")
    with client.start_run(model="payment-retry", params={"eta": 0.05}) as run:
        run.log_metric("auc", 0.78)
        version = run.register_model("model.json", family="xgboost")
    client.promote("payment-retry", version["version"], require="auc>=production")

In-process, without a server (home.py; needs the bindings marquee._native):

    items, scores = marquee.Home(path).model("title-recs@production").recommend(history, k=10)
"""
from .client import Client
from .errors import (AlreadyExists, Error, FailedPrecondition, Internal, InvalidArgument,
                     NotFound, PermissionDenied, ResourceExhausted, Unauthenticated, Unavailable)
from .home import Home, Model, NativeUnavailable, ope, train  # in-process (marquee._native)
from .tracking import Run

__version__ = "0.1.0"
__all__ = ["Client", "Run", "Error", "InvalidArgument", "NotFound", "AlreadyExists",
           "FailedPrecondition", "PermissionDenied", "Unauthenticated", "ResourceExhausted",
           "Unavailable", "Internal", "Home", "Model", "NativeUnavailable", "train", "ope"]
