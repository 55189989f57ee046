"""Message templates, kept as data (templates.json) and rendered with named values."""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

TEMPLATES_PATH = Path(__file__).with_name("templates.json")
Channel = Literal["sms", "email"]


class MissingValue(KeyError):
    """A template was rendered without one of its placeholders."""


@dataclass(frozen=True)
class Rendered:
    subject: str | None
    body: str


@dataclass(frozen=True)
class Template:
    name: str
    channel: Channel
    audience: str
    body: str
    subject: str | None = None
    body_without_times: str | None = None
    required: bool = False
    """The rules require this message: sent even to customers who opted out."""
    urgent: bool = False
    """Exempt from quiet hours and the rate limit."""

    def render(self, values: Mapping[str, str], *, alternate: bool = False) -> Rendered:
        """Fill the placeholders; `alternate` picks `body_without_times`."""
        body = self.body_without_times if alternate and self.body_without_times else self.body
        return Rendered(
            subject=_fill(self.subject, values) if self.subject else None,
            body=_fill(body, values),
        )

    def placeholders(self) -> set[str]:
        texts = [self.body, self.subject or "", self.body_without_times or ""]
        return {f for text in texts for _, f, _, _ in string.Formatter().parse(text) if f}


def _fill(text: str, values: Mapping[str, str]) -> str:
    try:
        return text.format_map(values)
    except KeyError as exc:
        raise MissingValue(str(exc)) from exc


@lru_cache
def templates(path: Path = TEMPLATES_PATH) -> dict[str, Template]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {
        name: Template(
            name=name,
            channel=t["channel"],
            audience=t.get("audience", "customer"),
            body=t["body"],
            subject=t.get("subject"),
            body_without_times=t.get("body_without_times"),
            required=bool(t.get("required", False)),
            urgent=bool(t.get("urgent", False)),
        )
        for name, t in data.items()
    }


def template(name: str) -> Template:
    return templates()[name]
