#!/usr/bin/python3
"""In-process scoring with marquee.Home: the server's own answers without a server.

    python3 examples/python/in_process.py URL MODEL_REF

Loads MODEL_REF (e.g. title-recs@production) from the home ($MARQUEE_HOME) through the bindings
marquee._native, ranks a few histories in-process, and checks each answer against the server at
URL for the same history (same items, scores equal to 1e-6). Then scores 1,000 histories as one
batch in-process and prints how long that took against the server's batch route. Exits 1 when
an answer differs, 2 when the bindings are not built (scripts/setup builds them).
"""
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))  # a checkout without .venv
import marquee  # noqa: E402


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    url, ref = sys.argv[1], sys.argv[2]
    try:
        model = marquee.Home().model(ref)  # the home of $MARQUEE_HOME, as the CLI resolves it
    except marquee.NativeUnavailable as e:
        print(f"in_process: {e}", file=sys.stderr)
        return 2
    client = marquee.Client(url)
    items = list(model.items)
    rng = random.Random(7)
    histories = [rng.sample(items, rng.randint(3, 20)) for _ in range(1000)]

    # One history at a time, against POST /v1/recommend.
    for h in histories[:20]:
        mine = model.recommend(h, k=10)
        theirs = client.recommend(ref, history=h, k=10)["items"]
        if [str(i) for i in mine.items] != [t["id"] for t in theirs] or any(
                abs(float(s) - t["score"]) > 1e-6 for s, t in zip(mine.scores, theirs)):
            print(f"in_process: differs from the server for history {h}", file=sys.stderr)
            return 1
    print(f"{model.info['name']} v{model.info['version']}: 20 histories ranked in-process "
          "equal the server's answers")

    # A batch of 1,000, against POST /v1/recommend/batch (best of 3 each).
    def best(fn):
        times = []
        for _ in range(3):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times) * 1e3
    local = best(lambda: model.score(histories, k=10))
    remote = best(lambda: client.recommend_batch(
        [{"model": ref, "history": [str(i) for i in h], "k": 10} for h in histories]))
    print(f"1,000 histories: in-process {local:.0f} ms, server batch route {remote:.0f} ms",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
