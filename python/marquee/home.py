"""In-process Marquee: score, train and evaluate on a home directory without a server, through
the bindings `marquee._native` (python/native; the project's CMake build makes them when
pybind11-dev and python3-dev are installed, and scripts/setup copies them into .venv).

    home = marquee.Home("/data/marquee")             # None: $MARQUEE_HOME, else ./.marquee
    model = home.model("title-recs@production")      # NAME, NAME@ALIAS or NAME/VERSION
    items, scores = model.recommend(["i12", "i7"], k=10)
    items, scores = model.score(histories, k=10)     # (n, k) arrays; batches run in parallel
    out = marquee.train("configs/ease.toml", home="/data/marquee", set=["model.lambda=300"])
    est = marquee.ope(log_df, "artwork@production", estimators=["ips", "snips", "dr"],
                      home="/data/marquee")

Scoring is the server's own ranking (the code behind POST /v1/recommend): for the same model
version and history the items and scores are the server's. In-process there is no event log:
a `user` contributes their training history only, not events sent to a server since.

Errors are the SDK's (marquee.NotFound, marquee.InvalidArgument, ...), with the library's code
and message. Without the bindings, `import marquee` still works (the HTTP client), and
`marquee.Home`, `marquee.train` and `marquee.ope` raise `marquee.NativeUnavailable`.
"""
import json
import numbers
import os
from typing import NamedTuple

from .client import _np, _pd, _records, _want_frame  # numpy and pandas when importable
from .errors import Unavailable, error_for


class NativeUnavailable(Unavailable, ImportError):
    """The in-process bindings (marquee._native) are not part of this installation (code
    unavailable); the message says how to build them. Also an ImportError."""


def _native():
    try:
        from . import _native as native
    except ImportError as e:
        raise NativeUnavailable(
            "unavailable",
            "the in-process bindings marquee._native are not installed with this marquee package "
            f"({e}): install pybind11-dev and python3-dev, then run scripts/setup (it builds the "
            "release preset and copies build/release/python/marquee/_native*.so into .venv), or "
            "put build/release/python on PYTHONPATH after `cmake --build --preset release "
            "--target marquee_native`") from e
    return native


class Recommendations(NamedTuple):
    """One ranked answer: item ids and their scores, best first (numpy arrays when numpy is
    importable: items of dtype object, scores float32; else lists)."""
    items: object
    scores: object


class Scores(NamedTuple):
    """Ranked answers of a batch: items (n, k) of dtype object, None where a row has fewer than
    k items, and scores (n, k) float32, NaN there (numpy); else lists of per-row lists."""
    items: object
    scores: object


def _home_path(home):
    if home is None:
        return ""  # the library resolves it: $MARQUEE_HOME, else ./.marquee
    if isinstance(home, Home):
        return home.path
    if isinstance(home, (str, os.PathLike)):
        return os.fspath(home)
    raise error_for("invalid_argument", f"home must be a path or a marquee.Home, not "
                    f"{type(home).__name__}")


def _check_int(value, name, low=None, high=2**31 - 1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise error_for("invalid_argument", f"{name}: must be an integer, got "
                        f"{type(value).__name__}")
    if (low is not None and value < low) or value > high:
        raise error_for("invalid_argument", f"{name}: {value} is out of range "
                        f"[{'-' if low is None else low}, {high}]")
    return int(value)


def _check_bool(value, name):
    if not isinstance(value, bool):
        raise error_for("invalid_argument", f"{name}: must be True or False, got "
                        f"{type(value).__name__}")
    return value


def _rows(rows, name):
    """A batch as a list (a numpy 2-D array gives its rows); a str is refused (one id, not rows)."""
    if rows is None:
        return None
    if isinstance(rows, (str, bytes)) or not hasattr(rows, "__iter__"):
        raise error_for("invalid_argument", f"{name}: must be a sequence with one entry per row, "
                        f"got {type(rows).__name__}")
    return list(rows)


class Home:
    """A Marquee home directory opened in-process. Models loaded from it are shared by the
    Home's `model` calls; a Home may be used from several threads."""

    def __init__(self, path=None):
        self._h = _native().Home(_home_path(path))
        self.path = self._h.path

    def __repr__(self):
        return f"marquee.Home({self.path!r})"

    def model(self, ref):
        """The recommender `ref` names now ("name@alias", "name/3", "name"), loaded (verified
        artifact, warmed) on first use. Raises NotFound for an unknown model, version or alias,
        InvalidArgument for a malformed reference or a model of another kind. The Model keeps
        that version; call model() again to follow an alias that moved."""
        if not isinstance(ref, str):
            raise error_for("invalid_argument", f"ref: must be a model reference string, got "
                            f"{type(ref).__name__}")
        return Model(self._h.model(ref))

    def train(self, config, set=None, threads=None):
        """marquee.train(config, home=self, ...)."""
        return train(config, home=self, set=set, threads=threads)

    def ope(self, log, policy=None, **options):
        """marquee.ope(log, policy, home=self, ...)."""
        return ope(log, policy, home=self, **options)


class Model:
    """One loaded recommender version (from Home.model)."""

    def __init__(self, native_model):
        self._m = native_model
        self.ref = native_model.ref
        self._vocab = None

    def __repr__(self):
        info = self.info
        return f"marquee.Model({self.ref!r}: {info['name']} v{info['version']}, {info['family']})"

    @property
    def info(self):
        """{"name", "version", "family", "artifact", "items", "known_users", "loaded_at",
        "load_seconds", "ref"}: the fields GET /v1/models shows for a loaded version."""
        return json.loads(self._m.info())

    @property
    def items(self):
        """The model's item ids in its index order (a numpy object array, or a list)."""
        return self._ids()[:-1] if _np is not None else self._ids()

    def _ids(self):
        if self._vocab is None:
            ids = self._m.item_ids()
            # A trailing None: index -1 (a row's padding) reads as None.
            self._vocab = _np.array(ids + [None], dtype=object) if _np is not None else ids
        return self._vocab

    def recommend(self, history=None, k=10, exclude_seen=True, user=None):
        """The top k items for a history (item ids: a list, tuple or numpy array of str or int)
        and/or a user of the training data (their training history is added), as
        POST /v1/recommend answers: seen items excluded unless exclude_seen=False; no history at
        all gives the most popular items, scored by their interaction counts. Returns
        Recommendations(items, scores)."""
        if history is None and user is None:
            raise error_for("invalid_argument", "give a history, a user or both")
        r = self._score(None if user is None else [user], None if history is None else [history],
                        k, exclude_seen, None, single=True)
        if _np is not None:
            valid = int(_np.count_nonzero(~_np.isnan(r.scores[0])))
            return Recommendations(r.items[0][:valid], r.scores[0][:valid])
        return Recommendations(r.items[0], r.scores[0])

    def score(self, histories, k=10, exclude_seen=True, users=None, threads=None):
        """The top k of every row, as POST /v1/recommend/batch answers (the same items and
        scores), ranked in parallel (threads: None = every core). `histories`: one sequence of
        item ids per row (or None); `users`: None, or one user id (or None) per row. Raises the
        first failing row's error ("row I: ..."). Returns Scores(items, scores)."""
        return self._score(_rows(users, "users"), _rows(histories, "histories"), k, exclude_seen,
                           threads, single=False)

    def _score(self, users, histories, k, exclude_seen, threads, single):
        k = _check_int(k, "k")
        exclude_seen = _check_bool(exclude_seen, "exclude_seen")
        threads = 0 if threads is None else _check_int(threads, "threads", low=1)
        if users is None and histories is None:
            raise error_for("invalid_argument", "give histories, users or both")
        item_bytes, score_bytes, width = self._m.score(users, histories, k, exclude_seen, threads,
                                                       single)
        vocab = self._ids()
        if _np is not None:
            idx = _np.frombuffer(item_bytes, dtype=_np.int32).reshape(-1, width)
            scores = _np.frombuffer(score_bytes, dtype=_np.float32).reshape(-1, width)
            return Scores(vocab[idx], scores.copy())
        from array import array

        idx, vals = array("i"), array("f")
        idx.frombytes(item_bytes)
        vals.frombytes(score_bytes)
        items, scores = [], []
        for r in range(len(idx) // width if width else 0):
            row = [(vocab[i], vals[r * width + c]) for c, i in enumerate(idx[r * width:(r + 1) *
                                                                              width]) if i >= 0]
            items.append([i for i, _ in row])
            scores.append([s for _, s in row])
        return Scores(items, scores)


def train(config, home=None, set=None, threads=None):
    """Trains, evaluates and registers a model in `home` as `marquee train` does, in-process:
    `config` is a TOML file's path (relative data paths and the default model name come from it,
    as with the CLI), TOML text, or a dict of sections ({"data": {...}, "model": {...}});
    `set`: "section.key=value" overrides. Returns what `marquee train --json` prints (run_id,
    model, version, metrics, ...)."""
    native = _native()
    if isinstance(config, dict):
        form, text = "json", json.dumps(config)
    elif isinstance(config, (str, os.PathLike)):
        text = os.fspath(config)
        if "\n" not in text and os.path.isfile(text):
            form = "path"
        elif "\n" in text or "=" in text:
            form = "toml"
        else:
            raise error_for("not_found", f"config file '{text}' does not exist (and it is not "
                            "TOML text)")
    else:
        raise error_for("invalid_argument", "config must be a path, TOML text or a dict of "
                        f"sections, not {type(config).__name__}")
    sets = [set] if isinstance(set, str) else list(set or [])
    if not all(isinstance(s, str) for s in sets):
        raise error_for("invalid_argument", "set: overrides are strings 'section.key=value'")
    threads = 0 if threads is None else _check_int(threads, "threads", low=1)
    return json.loads(native.train(_home_path(home), text, form, sets, threads))


def _plain(v):
    """json.dumps' fallback for numpy values inside a log's records."""
    if _np is not None and isinstance(v, _np.generic):
        return v.item()
    if _np is not None and isinstance(v, _np.ndarray):
        return v.tolist()
    raise TypeError(f"{type(v).__name__} is not JSON serialisable")


def _log_source(log, name):
    """("name", dataset name) for a str; ("jsonl", JSONL text) for a pandas DataFrame or a list of
    dicts, one logged decision per row with the fields of a bandit JSONL log (context, actions,
    chosen, probability, reward; position, user, ts optional)."""
    if isinstance(log, str):
        return "name", log
    if (_pd is not None and isinstance(log, _pd.DataFrame)) or isinstance(log, (list, tuple)):
        lines = []
        for i, rec in enumerate(_records(log)):
            rec = {k: v for k, v in rec.items() if v is not None}  # absent optional fields
            try:
                lines.append(json.dumps(rec, default=_plain, allow_nan=False))
            except (TypeError, ValueError) as e:
                raise error_for("invalid_argument", f"{name} row {i}: {e}") from None
        return "jsonl", "\n".join(lines) + "\n"
    raise error_for("invalid_argument", f"{name}: a bandit dataset name, a pandas DataFrame or a "
                    f"list of dicts, not {type(log).__name__}")


def ope(log, policy=None, estimators=("ips", "snips", "dr"), home=None, policy_from_log=None,
        bootstrap=200, seed=42, tau=10.0, folds=2, reward_model="auto", reward_l2=1.0,
        reward_dim=256, frame=None):
    """Off-policy evaluation as `marquee ope` computes it: the value a candidate policy would have
    had on `log` (a bandit dataset name in `home`, or a DataFrame / list of dicts of logged
    decisions), estimated with `estimators` (ips, snips, dm, dr, sndr, switch-dr, replay) and
    bootstrap 95% intervals. The candidate: `policy`, a bandit policy in home's registry
    ("artwork@production"), or `policy_from_log`, another logged policy (a dataset name or rows,
    as `log`), by its empirical action distribution; a DataFrame or list given as `policy` is
    taken as a logged policy. Returns a pandas DataFrame (index: estimator; columns value,
    ci_low, ci_high; attrs: n, ess, warnings, ... as `marquee ope --json` prints them) when
    pandas is importable and `frame` is not False, else that JSON object as a dict."""
    native = _native()
    if policy is not None and not isinstance(policy, str):
        if policy_from_log is not None:
            raise error_for("invalid_argument", "give exactly one of policy or policy_from_log")
        policy, policy_from_log = None, policy
    if (policy is None) == (policy_from_log is None):
        raise error_for("invalid_argument", "give exactly one of policy (a registry reference) or "
                        "policy_from_log (a logged policy)")
    if isinstance(estimators, str):
        estimators = [estimators]
    log_form, log_value = _log_source(log, "log")
    from_form, from_value = ("", "") if policy_from_log is None else _log_source(
        policy_from_log, "policy_from_log")
    # Ranges the bindings' C types hold; the library checks the meaningful ones (bootstrap >= 0,
    # folds >= 1, reward_dim 1..4096, tau > 0, reward_l2 > 0).
    bootstrap, folds = _check_int(bootstrap, "bootstrap"), _check_int(folds, "folds")
    reward_dim = _check_int(reward_dim, "reward_dim", low=0, high=2**32 - 1)
    seed = _check_int(seed, "seed", low=0, high=2**64 - 1)
    try:
        tau, reward_l2 = float(tau), float(reward_l2)
    except (TypeError, ValueError):
        raise error_for("invalid_argument", "tau and reward_l2 must be numbers") from None
    out = json.loads(native.ope(_home_path(home), log_form, log_value, policy or "", from_form,
                                from_value, [str(e) for e in estimators], bootstrap, seed, tau,
                                folds, str(reward_model), reward_l2, reward_dim))
    if not _want_frame(frame):
        return out
    order = out["estimator_order"]
    df = _pd.DataFrame({"value": [out["estimates"][e]["value"] for e in order],
                        "ci_low": [out["estimates"][e]["ci"][0] for e in order],
                        "ci_high": [out["estimates"][e]["ci"][1] for e in order]},
                       index=_pd.Index(order, name="estimator"))
    df.attrs.update({k: v for k, v in out.items() if k not in ("estimates", "estimator_order")})
    return df
