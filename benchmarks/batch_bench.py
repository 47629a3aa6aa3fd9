"""Benchmark: N prompts through the batch API client against the local stand-in.

The stand-in (tsr_assets_tests/batch_server.py) runs in its own process on 127.0.0.1 and answers
every line with a valid Hindi story. The real batch path (`llm/batch_api.run_batches`: JSONL
files split at 50,000 requests, upload, create, poll with backoff, download, parse, validate)
runs in fresh client processes for two numbers of prompts, so each one's peak RSS is its own.
Reported: client-side seconds and peak RSS, requests sent against prompts, lines answered twice
(none may be), and the cost against the same answers bought online (prices 0.15 / 0.60 per
million tokens, batch discount 0.5).

    python benchmarks/batch_bench.py [--counts 10000 100000]

Last line: one JSON object with the figures and `meets_bar` (cost <= 0.5x online, 0 duplicate
requests, requests == prompts, peak RSS <= 1 GB at the larger count).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

BAR_COST_RATIO = 0.5
BAR_RSS_MB = 1024.0


def client(count: int, base_url: str) -> dict:
    """One client run of `count` prompts (in this process); its figures."""
    from peak_memory import peak_rss_mb

    from tsr_assets.llm.batch_api import run_batches
    from tsr_assets.llm.batch_settings import BatchSettings
    from tsr_assets.llm.request_runner import RequestItem, RunnerSettings
    from tsr_assets.llm.sources import OpenAICompatibleSource, Prices

    def items():
        for i in range(count):
            prompt = (f'Write a short story in Hindi for children aged 5 to 7 with the noun '
                      f'"घर{i}", the verb "खेलना" and the adjective "खुश". '
                      'Answer as JSON: {"story": "..."}.')
            yield RequestItem(f"n{count}-p{i:07d}", prompt)

    def validate(raw: str, item) -> tuple[str | None, str | None, str]:
        story = json.loads(raw).get("story")
        return story, None if story else "no_json", raw[:80]

    settled = [0]
    source = OpenAICompatibleSource(base_url, "bench-model")
    settings = RunnerSettings(prices=Prices(0.15, 0.60),
                              batch=BatchSettings(poll_initial_s=0.2, poll_max_s=1.0))
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        stats = run_batches(items(), source, validate, settings, settings.batch, Path(tmp),
                            total=count, on_outcome=lambda o: settled.__setitem__(0, settled[0]
                                                                                   + 1),
                            log=lambda line: None)
        seconds = time.monotonic() - started
    return {"prompts": count, "seconds": round(seconds, 2), "requests": stats.requests,
            "succeeded": stats.succeeded, "settled": settled[0], "batches": len(stats.batch_ids),
            "cost": stats.cost, "online_cost": stats.online_cost,
            "peak_rss_mb": round(peak_rss_mb(), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--counts", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--client", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        print(json.dumps(client(args.client, args.base_url)))
        return
    server = subprocess.Popen([sys.executable, "-m", "tsr_assets_tests.batch_server", "1.0"],
                              cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        base_url = f"http://127.0.0.1:{port}/v1"
        runs = []
        for count in args.counts:
            before = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/stats").read())
            out = subprocess.run([sys.executable, __file__, "--client", str(count),
                                  "--base-url", base_url], capture_output=True, text=True,
                                 check=True, cwd=REPO)
            run = json.loads(out.stdout.strip().splitlines()[-1])
            after = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/stats").read())
            run["lines_sent"] = after["lines"] - before["lines"]
            run["answered_twice"] = after["answered_twice"] - before["answered_twice"]
            run["cost_ratio"] = round(run["cost"] / run["online_cost"], 4)
            runs.append(run)
            print(f"{count:>9,} prompts: {run['seconds']:.1f} s client-side, "
                  f"{run['lines_sent']:,} requests in {run['batches']} batches, "
                  f"{run['answered_twice']} answered twice, peak RSS {run['peak_rss_mb']:.0f} MB,"
                  f" cost {run['cost']:.4f} vs {run['online_cost']:.4f} online "
                  f"({run['cost_ratio']:.2f}x)")
    finally:
        server.kill()
    largest = runs[-1]
    meets = (all(r["cost_ratio"] <= BAR_COST_RATIO + 1e-9 and r["answered_twice"] == 0
                 and r["lines_sent"] == r["prompts"] == r["succeeded"] for r in runs)
             and largest["peak_rss_mb"] <= BAR_RSS_MB)
    print(json.dumps({"benchmark": "batch_bench", "runs": runs,
                      "rss_ratio": round(largest["peak_rss_mb"] / runs[0]["peak_rss_mb"], 2),
                      "bar": {"cost_ratio": BAR_COST_RATIO, "duplicates": 0,
                              "peak_rss_mb": BAR_RSS_MB}, "meets_bar": meets}))


if __name__ == "__main__":
    main()
