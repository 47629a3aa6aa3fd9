"""The Hugging Face Hub: whether it can be reached (fail in seconds, not after minutes of
retries), and uploading an exported folder. The token comes from the environment only."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

DEFAULT_ENDPOINT = "https://huggingface.co"


def safe_loading_kwargs(name_or_path: str) -> dict:
    """Keyword arguments for a `from_pretrained` of a model made elsewhere: never
    `trust_remote_code`, and in a local folder that has `.safetensors` weights only those
    (elsewhere `transformers` prefers safetensors itself and reads a `.bin` with
    `weights_only=True`)."""
    folder = Path(name_or_path).expanduser()
    has_safetensors = folder.is_dir() and any(folder.glob("*.safetensors"))
    return {"trust_remote_code": False, "use_safetensors": True if has_safetensors else None}


class HubUnavailable(RuntimeError):
    """The Hub cannot be used from here; the message says why and what to do."""


def hub_offline_reason(connect_timeout_s: float = 3.0) -> str | None:
    """Why the Hub cannot be reached (`HF_HUB_OFFLINE`, or no connection to `HF_ENDPOINT`
    within the timeout), or None when it can."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
        return "HF_HUB_OFFLINE is set"
    endpoint = os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT)
    parsed = urlparse(endpoint)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "", port), timeout=connect_timeout_s):
            return None
    except OSError as exc:
        return f"the hub at {endpoint} cannot be reached ({type(exc).__name__})"


@dataclass(frozen=True)
class PushResult:
    """Where an upload went."""

    repo_id: str
    url: str
    commit: str


def push_folder(folder: Path, repo_id: str, repo_type: str, token: str | None,
                private: bool, commit_message: str, connect_timeout_s: float = 3.0
                ) -> PushResult:
    """Create the repository if missing and upload `folder` as one commit.

    Raises:
        HubUnavailable: no token, no network, or the Hub refused; nothing local is touched.
    """
    if not token:
        raise HubUnavailable("no Hugging Face token: set $HF_TOKEN (a write token) to push")
    reason = hub_offline_reason(connect_timeout_s)
    if reason:
        raise HubUnavailable(f"cannot push {repo_id}: {reason}. The export stays in {folder}; "
                             "push it later with `huggingface-cli upload`.")
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, token=token)
    try:
        api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type=repo_type,
                                 commit_message=commit_message)
    except (HfHubHTTPError, OSError) as exc:
        raise HubUnavailable(f"pushing {repo_id} failed: {type(exc).__name__}: "
                             f"{str(exc)[:300]}. The export stays in {folder}.") from exc
    return PushResult(repo_id, getattr(info, "commit_url", "") or "",
                      getattr(info, "oid", "") or "")
