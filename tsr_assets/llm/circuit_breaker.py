"""A circuit breaker over a run's answers: stop spending when a source clearly does not work.

It counts *answers* (every attempt that got a response or an error, a timeout included), not
prompts, because one prompt may take several attempts. It decides early, since with a slow
model every answer costs up to `max_tokens` of generation: it opens when

- the first `first_answers_min` answers are all bad,
- the bad share of the first `first_answers` answers reaches `max_bad_share` (as soon as that
  is certain, not only once all of them are in),
- `max_consecutive_bad` answers in a row are bad, or
- a bad answer arrives `max_bad_seconds` after the run started (or after its last good answer)
  with no good answer in between.

A model whose good answers merely come slowly is never stopped: only bad answers open it. Rate
limiting (429) is the server asking to slow down and is not counted.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field

#: What usually causes each reason, and what to change.
LIKELY_FIXES: dict[str, str] = {
    "prompt_echo": "the model repeats or continues the prompt instead of answering it, as a base "
                   "(not instruction-tuned) model does: use a chat/instruct model, or an endpoint "
                   "that applies the model's chat template",
    "no_json": "the model ignores the instruction to answer as JSON: use an instruction-tuned "
               "(chat) model rather than a base model, or set response_format to json_object",
    "wrong_script": "the model answers in another language or script: use a model that writes "
                    "this language, or a prompt template that insists on its script",
    "truncated": "answers stop at max_tokens: raise max_tokens or ask for shorter stories",
    "repetitive": "the model repeats itself (a base or too small model, or a too low "
                  "temperature): use a larger instruction model or a higher temperature",
    "unknown_words": "most words are not words of the language (gibberish in the right "
                     "script): use a model that knows the language",
    "too_short": "stories are shorter than min_chars: check the model follows the template, or "
                 "lower min_chars",
    "too_long": "stories are longer than max_chars: lower max_tokens or raise max_chars",
    "empty": "the model returns empty answers: check the model name and the endpoint",
    "starts_with_mark": "answers start in the middle of a syllable: check the endpoint's "
                        "stop sequences and the model's chat template",
    "connection_failed": "the endpoint cannot be reached: check base_url and the network (g4f "
                         "needs internet access)",
    "timeout": "answers take longer than timeout_s: raise it, lower max_tokens or concurrency",
    "server_error": "the endpoint keeps failing (HTTP 5xx): check the server's logs",
    "auth": "the endpoint refuses the key (HTTP 401/403): set the API key's environment "
            "variable (api_key_env_var)",
    "not_found": "the endpoint does not know the model or path (HTTP 404): check model and "
                 "base_url (it usually ends in /v1)",
}


#: The likely cause behind each reason, for the first line of the summary.
LIKELY_CAUSES: dict[str, str] = {
    "prompt_echo": "a base model (it continues the prompt)",
    "no_json": "a base model or one that ignores the instructions",
    "repetitive": "a base or too small model",
    "wrong_script": "the wrong language",
    "unknown_words": "the wrong language (or a model that does not know it)",
    "truncated": "answers cut at max_tokens",
    "timeout": "timeouts (the model is too slow for timeout_s)",
    "connection_failed": "an endpoint that cannot be reached",
    "auth": "a missing or refused API key",
    "not_found": "a wrong model name or base_url",
    "server_error": "a failing server",
}


@dataclass(frozen=True)
class BreakerSettings:
    """When the breaker opens. `enabled=False` never opens it."""

    first_answers: int = 20
    max_bad_share: float = 0.8
    max_consecutive_bad: int = 20
    enabled: bool = True
    first_answers_min: int = 6
    max_bad_seconds: float = 300.0

    def __post_init__(self) -> None:
        if not 0 < self.max_bad_share <= 1:
            raise ValueError("max_bad_share must be in (0, 1]")
        if min(self.first_answers, self.max_consecutive_bad, self.first_answers_min) < 1:
            raise ValueError("first_answers, first_answers_min and max_consecutive_bad must be "
                             "at least 1")
        if self.max_bad_seconds <= 0:
            raise ValueError("max_bad_seconds must be positive")


@dataclass
class CircuitBreaker:
    """Counts answers; `trip` says why it opened (None while closed)."""

    settings: BreakerSettings = BreakerSettings()
    answers: int = 0
    bad: int = 0
    consecutive_bad: int = 0
    reasons: Counter = field(default_factory=Counter)
    snippets: dict[str, str] = field(default_factory=dict)
    trip: str | None = None
    #: Since when no answer was good (the start, then each good answer); monotonic seconds.
    good_or_start_at: float = field(default_factory=time.monotonic)

    @property
    def is_open(self) -> bool:
        """True once tripped: send nothing more."""
        return self.trip is not None

    def record(self, ok: bool, reason: str = "", snippet: str = "",
               now: float | None = None) -> None:
        """Count one answer (`ok`: it was accepted) that arrived at `now` (monotonic)."""
        now = time.monotonic() if now is None else now
        self.answers += 1
        if ok:
            self.consecutive_bad = 0
            self.good_or_start_at = now
        else:
            self.bad += 1
            self.consecutive_bad += 1
            self.reasons[reason] += 1
            self.snippets.setdefault(reason, snippet)
        if self.trip is None and self.settings.enabled and not ok:
            self.trip = self._reason_to_open(now)

    def _reason_to_open(self, now: float) -> str | None:
        """Why the breaker opens after a bad answer, or None."""
        limit = self.settings
        window_bad_limit = math.ceil(limit.max_bad_share * limit.first_answers - 1e-9)
        if self.answers == self.bad == limit.first_answers_min:
            return f"the first {self.answers} answers were all rejected or failed"
        if self.answers <= limit.first_answers and self.bad >= window_bad_limit:
            return (f"{self.bad} of the first {self.answers} answers were rejected or failed "
                    f"(the limit is {limit.max_bad_share:.0%} of the first "
                    f"{limit.first_answers})")
        if self.consecutive_bad >= limit.max_consecutive_bad:
            return f"{self.consecutive_bad} answers in a row were rejected or failed"
        waited = now - self.good_or_start_at
        if waited >= limit.max_bad_seconds:
            since = "since the last good one" if self.bad < self.answers else "since the start"
            return (f"no good answer in {waited:,.0f} s {since} ({self.consecutive_bad} bad "
                    f"answers; the limit is {limit.max_bad_seconds:,.0f} s)")
        return None

    def likely_cause(self) -> str | None:
        """The likely cause of the most common bad reason, in words."""
        if not self.reasons:
            return None
        reason, _ = self.reasons.most_common(1)[0]
        return LIKELY_CAUSES.get(reason)

    def summary(self, top: int = 3) -> str:
        """The trigger, the likely cause, the top reasons with one example each, and the
        likely fixes."""
        lines = [self.trip or f"{self.bad} of {self.answers} answers were rejected or failed"]
        if self.likely_cause():
            lines[0] += f". Likely cause: {self.likely_cause()}"
        for reason, count in self.reasons.most_common(top):
            fix = LIKELY_FIXES.get(reason, "see the rejections and failures of this run")
            lines.append(f"- {reason} x {count}, e.g. {self.snippets.get(reason, '')[:160]!r}. "
                         f"Likely fix: {fix}")
        return "\n".join(lines)
