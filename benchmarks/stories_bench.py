"""Benchmark: story generation throughput against a local OpenAI-compatible server, and memory.

A real HTTP server (tsr_assets_tests/chat_server.py) runs in its own process on 127.0.0.1 and
answers every request with a valid Hindi story after an injected latency L. The real
generation path (`generate_stories`: prompts parquet -> rate-limited async client ->
validation -> journal -> parquet shards) runs at several concurrency levels C, with and without
a rate limit R, and its stories/s is compared with the bound min(C / L, R); validation runs
with every quality gate on. Peak RSS is then measured in fresh processes for two numbers of
prompts, and the quality gates' own cost is timed per story in each language.

    python benchmarks/stories_bench.py [--latency 0.2] [--memory-counts 10000 100000]

Last line: one JSON object with the figures and `meets_bar` (>= 90% of the bound everywhere,
peak RSS at the larger count within 1.25x of the smaller, gates <= 1 ms per story).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from peak_memory import peak_rss_mb  # noqa: E402

BAR_SHARE = 0.90
BAR_RSS_RATIO = 1.25
BAR_GATES_MS = 1.0


def gates_cost(stories_per_language: int = 2000) -> dict[str, dict[str, float]]:
    """Milliseconds per story of the quality gates (repetition and lexicon) and of the whole
    validation, on offline-writer stories of each language (lexicons built before timing)."""
    from tsr_assets.core.languages import get_language
    from tsr_assets.prompts.wordlists import load_wordlists
    from tsr_assets.stories.lexicon import lexicon_for
    from tsr_assets.stories.offline_writer import load_sentence_banks, write_offline_story
    from tsr_assets.stories.parsing import StoryLimits, validate_story
    from tsr_assets.stories.quality_gates import gate_rejection, gate_scores

    figures = {}
    for key in ("hindi", "marathi", "bengali"):
        language = get_language(key)
        banks = load_sentence_banks(language.package_data_dir)
        lists = load_wordlists(language.package_data_dir, language)
        stories = [write_offline_story(f"{i:016x}", lists.nouns[i % len(lists.nouns)],
                                       lists.verbs[i % len(lists.verbs)],
                                       lists.adjectives[i % len(lists.adjectives)], i % 15,
                                       banks, feature_count=15)
                   for i in range(stories_per_language)]
        answers = [json.dumps({"story": s}, ensure_ascii=False) for s in stories]
        lexicon, limits = lexicon_for(key), StoryLimits()
        minimum = limits.known_word_minimum(language)
        started = time.perf_counter()
        for story in stories:
            gate_rejection(gate_scores(story, language, lexicon), 0.3, 0.35, minimum)
        gates = (time.perf_counter() - started) / len(stories) * 1000
        started = time.perf_counter()
        for answer in answers:
            validate_story(answer, language, limits)
        whole = (time.perf_counter() - started) / len(answers) * 1000
        figures[key] = {"gates_ms_per_story": round(gates, 4),
                        "validation_ms_per_story": round(whole, 4)}
        print(f"{key}: gates {gates:.3f} ms/story, whole validation {whole:.3f} ms/story "
              f"({lexicon.source})")
    return figures


def serve(latency: float, port_file: Path) -> None:
    """Run the chat server until killed, writing its port to `port_file`."""
    from tsr_assets_tests.chat_server import Reply, good_story, running_chat_server

    with running_chat_server(lambda p, c: Reply(good_story(p), delay_s=latency)) as server:
        port_file.write_text(str(server.port))
        while True:
            time.sleep(3600)


def make_prompts(lake: Path, count: int) -> tuple[Path, list[str]]:
    """Write `count` Hindi prompts with the real prompts code; return the file and features."""
    from tsr_assets.core.languages import get_language
    from tsr_assets.prompts.building import prompt_frames, write_prompts_parquet
    from tsr_assets.prompts.templates import get_template
    from tsr_assets.prompts.wordlists import load_wordlists

    hindi = get_language("hindi")
    lists = load_wordlists(hindi.package_data_dir, hindi)
    path = lake / "prompts.parquet"
    write_prompts_parquet(
        prompt_frames(lists, hindi, get_template("structured"), count, seed=1), path
    )
    return path, list(lists.features)


def generate(
    base_url: str, prompts_path: Path, features: list[str], concurrency: int, rate: float | None
) -> dict:
    """Generate a story for every prompt through the real path; return throughput figures."""
    from tsr_assets.core.languages import get_language
    from tsr_assets.llm.request_runner import RunnerSettings
    from tsr_assets.llm.sources import OpenAICompatibleSource
    from tsr_assets.stories.generation import generate_stories
    from tsr_assets.stories.parsing import StoryLimits

    with tempfile.TemporaryDirectory() as tmp:
        settings = RunnerSettings(
            requests_per_period=rate, period_s=1.0, concurrency=concurrency, timeout_s=30,
            progress_every_s=3600,
        )
        report = generate_stories(
            get_language("hindi"), Path(tmp) / "stories", prompts_path, features,
            OpenAICompatibleSource(base_url, "bench", max_connections=concurrency),
            settings, StoryLimits(), log=lambda line: None,
        )
    return {"stories": report.generated, "seconds": report.seconds,
            "per_second": report.generated / report.seconds}


def generate_fresh(base_url: str, count: int, concurrency: int, rate: float | None) -> dict:
    """Write `count` prompts, then generate their stories."""
    with tempfile.TemporaryDirectory() as tmp:
        prompts_path, features = make_prompts(Path(tmp), count)
        return generate(base_url, prompts_path, features, concurrency, rate)


def worker(base_url: str, prompts_path: str, concurrency: int) -> None:
    """Subprocess entry for the memory runs (prompts made beforehand): figures + peak RSS."""
    from tsr_assets.core.languages import get_language
    from tsr_assets.prompts.wordlists import load_wordlists

    hindi = get_language("hindi")
    features = list(load_wordlists(hindi.package_data_dir, hindi).features)
    figures = generate(base_url, Path(prompts_path), features, concurrency, None)
    figures["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32, 64])
    parser.add_argument("--rate", type=float, default=50.0, help="rate limit, requests/s")
    parser.add_argument("--seconds", type=float, default=5.0, help="target length of a run")
    parser.add_argument("--memory-counts", type=int, nargs=2, default=[10_000, 100_000])
    parser.add_argument("--serve", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--port-file", help=argparse.SUPPRESS)
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve, Path(args.port_file))
        return
    if args.worker:
        worker(args.worker[0], args.worker[1], int(args.worker[2]))
        return

    gates = gates_cost()
    servers: list[subprocess.Popen] = []

    def start_server(latency: float) -> str:
        port_file = Path(tempfile.mkdtemp()) / "port"
        servers.append(subprocess.Popen(
            [sys.executable, __file__, "--serve", str(latency), "--port-file", str(port_file)]
        ))
        for _ in range(200):
            if port_file.exists() and port_file.read_text():
                return f"http://127.0.0.1:{port_file.read_text()}/v1"
            time.sleep(0.05)
        raise RuntimeError("server did not start")

    try:
        base_url = start_server(args.latency)
        rows = []
        for rate in (None, args.rate):
            for concurrency in args.concurrency:
                bound = concurrency / args.latency
                if rate is not None:
                    bound = min(bound, rate)
                count = max(50, int(bound * args.seconds))
                figures = generate_fresh(base_url, count, concurrency, rate)
                share = figures["per_second"] / bound
                rows.append({"concurrency": concurrency, "rate_limit": rate,
                             "bound_per_s": round(bound, 1),
                             "per_s": round(figures["per_second"], 1),
                             "share_of_bound": round(share, 3), "stories": figures["stories"]})
                print(f"L={args.latency}s C={concurrency:>3} R={rate or '-':>5}: "
                      f"{figures['per_second']:7.1f} stories/s of bound {bound:7.1f} "
                      f"({share:.0%}), {figures['stories']} stories")
        fast_url = start_server(0.0)
        memory = {}
        for count in args.memory_counts:
            prompts_dir = Path(tempfile.mkdtemp())
            make_prompts(prompts_dir, count)
            proc = subprocess.run(
                [sys.executable, __file__, "--worker", fast_url,
                 str(prompts_dir / "prompts.parquet"), "64"],
                capture_output=True, text=True, check=True,
            )
            memory[count] = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"{count:>7,} prompts: peak RSS {memory[count]['peak_rss_mb']:.0f} MB, "
                  f"{memory[count]['per_second']:.0f} stories/s")
    finally:
        for server in servers:
            server.kill()
    small, large = args.memory_counts
    rss_ratio = memory[large]["peak_rss_mb"] / memory[small]["peak_rss_mb"]
    result = {
        "benchmark": "stories",
        "latency_s": args.latency,
        "runs": rows,
        "min_share_of_bound": min(r["share_of_bound"] for r in rows),
        "peak_rss_mb": {str(k): round(v["peak_rss_mb"], 1) for k, v in memory.items()},
        "rss_ratio_large_to_small": round(rss_ratio, 3),
        "quality_gates": gates,
        "bar": f">= {BAR_SHARE:.0%} of min(C/L, R) at every level; peak RSS for "
               f"{large:,} prompts <= {BAR_RSS_RATIO}x that for {small:,}; quality gates "
               f"<= {BAR_GATES_MS} ms per story",
        "meets_bar": min(r["share_of_bound"] for r in rows) >= BAR_SHARE
        and rss_ratio <= BAR_RSS_RATIO
        and max(g["gates_ms_per_story"] for g in gates.values()) <= BAR_GATES_MS,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
