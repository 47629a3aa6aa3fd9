"""Label Studio over its HTTP API: create a rating project, import its tasks, read the
annotations back. Plain `requests`, not `label-studio-sdk`: the SDK (2.1) pins
`opencv-python-headless<4.13`, which pins `numpy<2.3` and would move the platform's numpy back,
with about 35 more packages (black, nltk, datamodel-code-generator, ...) that the platform does
not need; these few calls are Label Studio's documented REST API.

The key is a Label Studio access token: a legacy token (`Authorization: Token <key>`) or a
personal access token (a JWT refresh token, exchanged at `/api/token/refresh` for an access
token). It is never logged, and errors never show it. No Dagster here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import requests


class LabelStudioError(RuntimeError):
    """Label Studio refused a call or could not be reached (the message names the call)."""


def _is_jwt(token: str) -> bool:
    return token.count(".") == 2


@dataclass
class LabelStudioClient:
    """A Label Studio server at `url` (e.g. `http://127.0.0.1:8080`) and an API token."""

    url: str
    token: str = field(repr=False)
    timeout_s: float = 60.0
    _session: requests.Session = field(default_factory=requests.Session, repr=False)
    _authorization: str | None = field(default=None, repr=False)

    def _auth_header(self) -> str:
        if self._authorization is None:
            if _is_jwt(self.token):
                answer = self._send("POST", "/api/token/refresh", {"refresh": self.token},
                                    authorize=False)
                self._authorization = f"Bearer {answer['access']}"
            else:
                self._authorization = f"Token {self.token}"
        return self._authorization

    def _send(self, method: str, path: str, payload: object = None, authorize: bool = True,
              params: Mapping[str, object] | None = None) -> object:
        headers = {"Content-Type": "application/json"}
        if authorize:
            headers["Authorization"] = self._auth_header()
        where = f"Label Studio {method} {self.url.rstrip('/')}{path}"
        try:
            response = self._session.request(
                method, self.url.rstrip("/") + path, headers=headers, params=params,
                data=None if payload is None else json.dumps(payload), timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise LabelStudioError(f"{where}: {type(exc).__name__}: {exc}") from None
        if response.status_code in (401, 403):
            raise LabelStudioError(f"{where}: {response.status_code}, the API key was refused; "
                                   "give a valid access token (Account & Settings)")
        if response.status_code >= 400:
            raise LabelStudioError(f"{where}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def whoami(self) -> dict:
        """The user the token belongs to."""
        return self._send("GET", "/api/current-user/whoami")

    def create_project(self, title: str, label_config: str, raters_per_story: int,
                       description: str = "") -> dict:
        """A new project whose tasks each go to `raters_per_story` raters (Label Studio's
        `maximum_annotations`, with overlap on every task), shown in random order."""
        return self._send("POST", "/api/projects", {
            "title": title, "description": description, "label_config": label_config,
            "maximum_annotations": raters_per_story, "overlap_cohort_percentage": 100,
            "show_overlap_first": True, "sampling": "Uniform sampling",
            "show_skip_button": True, "show_instruction": True,
            "expert_instruction": description})

    def import_tasks(self, project_id: int, tasks: Sequence[dict]) -> dict:
        """Import tasks (Label Studio's JSON task format) into a project."""
        return self._send("POST", f"/api/projects/{project_id}/import", list(tasks))

    def tasks(self, project_id: int) -> list[dict]:
        """The project's tasks (id and data), every page."""
        found, page = [], 1
        while True:
            answer = self._send("GET", "/api/tasks", params={
                "project": project_id, "page": page, "page_size": 500})
            batch = answer.get("tasks", []) if isinstance(answer, dict) else answer
            found += batch
            if not batch or len(found) >= (answer.get("total", 0)
                                           if isinstance(answer, dict) else len(found)):
                return found
            page += 1

    def submit_annotation(self, task_id: int, result: Sequence[dict],
                          completed_by: int | None = None) -> dict:
        """Submit one annotation of a task (as the token's user, or `completed_by`)."""
        body: dict = {"result": list(result)}
        if completed_by is not None:
            body["completed_by"] = completed_by
        return self._send("POST", f"/api/tasks/{task_id}/annotations", body)

    def export_annotations(self, project_id: int) -> list[dict]:
        """The project's JSON export: every task with its annotations."""
        return self._send("GET", f"/api/projects/{project_id}/export",
                          params={"exportType": "JSON"})

    def users(self) -> dict[int, str]:
        """Every user of the organization: id -> email (or username)."""
        return {u["id"]: u.get("email") or u.get("username") or f"user{u['id']}"
                for u in self._send("GET", "/api/users/")}

    def create_user(self, email: str, password: str, first_name: str = "") -> dict:
        """A new user of the organization (a rater who logs in with `email` and `password`)."""
        return self._send("POST", "/api/users/", {
            "email": email, "username": email.split("@", 1)[0], "password": password,
            "first_name": first_name})


def rating_result(scores: Mapping[str, int], to_name: str = "story") -> list[dict]:
    """An annotation's `result` for `<Rating>` controls: one region per criterion."""
    return [{"from_name": criterion, "to_name": to_name, "type": "rating",
             "value": {"rating": int(score)}} for criterion, score in scores.items()]
