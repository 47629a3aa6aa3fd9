"""A stand-in for `vllm run-batch -i IN -o OUT --model M`: reads OpenAI-format batch input
lines and writes output lines in the same format vLLM writes, each answer a Hindi story."""

from __future__ import annotations

import argparse
import json

from tsr_assets_tests.chat_server import good_story


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-i", required=True)
    parser.add_argument("-o", required=True)
    parser.add_argument("--model", required=True)
    args = parser.parse_args()
    with open(args.i, encoding="utf-8") as src, open(args.o, "w", encoding="utf-8") as out:
        for n, line in enumerate(src):
            request = json.loads(line)
            content = good_story(request["body"]["messages"][-1]["content"])
            out.write(json.dumps({"id": f"vllm-{n}", "custom_id": request["custom_id"],
                                  "response": {"status_code": 200, "request_id": f"r{n}",
                                               "body": {"model": args.model, "choices": [{
                                                   "index": 0, "finish_reason": "stop",
                                                   "message": {"role": "assistant",
                                                               "content": content}}],
                                                   "usage": {"prompt_tokens": 40,
                                                             "completion_tokens": 90}}},
                                  "error": None}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
