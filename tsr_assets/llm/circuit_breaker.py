"""A circuit breaker over a run's answers: stop spending when a source clearly does not work.

It counts *answers* (every attempt that got a response or an error), not prompts, because one
prompt may take several attempts. It opens when the first `first_answers` answers are mostly
bad (`max_bad_share`), or when `max_consecutive_bad` answers in a row are bad. Rate limiting
(429) is the server asking to slow down and is not counted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

#: What usually causes each reason, and what to change.
LIKELY_FIXES: dict[str, str] = {
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


@dataclass(frozen=True)
class BreakerSettings:
    """When the breaker opens. `enabled=False` never opens it."""

    first_answers: int = 20
    max_bad_share: float = 0.8
    max_consecutive_bad: int = 20
    enabled: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.max_bad_share <= 1:
            raise ValueError("max_bad_share must be in (0, 1]")
        if self.first_answers < 1 or self.max_consecutive_bad < 1:
            raise ValueError("first_answers and max_consecutive_bad must be at least 1")


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

    @property
    def is_open(self) -> bool:
        """True once tripped: send nothing more."""
        return self.trip is not None

    def record(self, ok: bool, reason: str = "", snippet: str = "") -> None:
        """Count one answer (`ok`: it was accepted)."""
        self.answers += 1
        if ok:
            self.consecutive_bad = 0
        else:
            self.bad += 1
            self.consecutive_bad += 1
            self.reasons[reason] += 1
            self.snippets.setdefault(reason, snippet)
        if self.trip is not None or not self.settings.enabled:
            return
        limit = self.settings
        if self.answers == limit.first_answers and self.bad / self.answers >= limit.max_bad_share:
            self.trip = (f"{self.bad} of the first {self.answers} answers were rejected or failed "
                         f"(the limit is {limit.max_bad_share:.0%})")
        elif self.consecutive_bad >= limit.max_consecutive_bad:
            self.trip = f"{self.consecutive_bad} answers in a row were rejected or failed"

    def summary(self, top: int = 3) -> str:
        """The trigger, the top reasons with one example each, and the likely fixes."""
        lines = [self.trip or f"{self.bad} of {self.answers} answers were rejected or failed"]
        for reason, count in self.reasons.most_common(top):
            fix = LIKELY_FIXES.get(reason, "see the rejections and failures of this run")
            lines.append(f"- {reason} x {count}, e.g. {self.snippets.get(reason, '')[:160]!r}. "
                         f"Likely fix: {fix}")
        return "\n".join(lines)
