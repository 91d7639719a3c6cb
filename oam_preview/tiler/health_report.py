"""The values a health report is made of (:mod:`oam_preview.tiler.checkup` makes them): each read
it measured, and the report of one file with its grade and JSON form (API additions, "Health report")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .findings import Finding, Grade, grade, problems


@dataclass(frozen=True)
class Measurement:
    """One read as the server makes it: upstream ``requests`` and ``bytes`` (``None`` for a
    local file), the ideal COG's minimum, ``seconds`` it took, ``error`` slug if it failed."""

    what: str
    requests: int | None
    bytes: int | None
    minimum_requests: int
    minimum_bytes: int
    seconds: float
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "read": self.what,
            "requests": self.requests,
            "bytes": self.bytes,
            "minimum_requests": self.minimum_requests,
            "minimum_bytes": self.minimum_bytes,
            "seconds": round(self.seconds, 3),
            "error": self.error,
        }


@dataclass(frozen=True)
class Report:
    """The health report of one file: its ``grade``, the ``findings`` (notes too), the ``fix``
    command when one mends them, ``cog`` (rio-cogeo's verdict: the codes of the COG rules
    broken), and ``requests``/``bytes`` the whole report cost upstream."""

    source: str
    findings: tuple[Finding, ...]
    fix: str | None = None
    cog: tuple[str, ...] | None = None
    requests: int | None = None
    bytes: int | None = None
    image_id: str | None = None

    @property
    def grade(self) -> Grade:
        return grade(self.findings)

    @property
    def exit_code(self) -> int:
        """The ``check`` command's status: 0 ready, 1 warnings, 2 not servable."""
        return {"ok": 0, "warning": 1, "not_servable": 2}[self.grade]

    def problems(self) -> list[str]:
        return problems(self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            **({"id": self.image_id} if self.image_id else {}),
            "source": self.source,
            "grade": self.grade,
            "problems": self.problems(),
            "fix": self.fix,
            "cog": None if self.cog is None else {"valid": not self.cog, "broken_rules": list(self.cog)},
            "upstream": {"requests": self.requests, "bytes": self.bytes},
            "findings": [f.to_dict() for f in self.findings],
        }
