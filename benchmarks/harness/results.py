"""Everything one run measured, and the JSON file that keeps it."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = (
    "Django",
    "django-cachefresh",
    "redis",
    "hiredis",
    "django-redis",
    "msgpack",
    "psycopg",
    "django-cacheops",
    "django-cachalot",
    "rich",
    "matplotlib",
)
#: What a scenario run in a process of its own hands back (:mod:`benchmarks.harness.child`).
PARTS = ("measurements", "ratios", "facts", "skipped")


@dataclass
class Results:
    settings: dict[str, Any]
    measurements: list[dict[str, Any]] = field(default_factory=list)
    ratios: list[dict[str, Any]] = field(default_factory=list)
    facts: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    backends: dict[str, Any] = field(default_factory=dict)
    targets: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    def measured(
        self,
        scenario: str,
        backend: str,
        group: str,
        summaries: dict[str, dict[str, Any]],
        **params: Any,
    ) -> None:
        for variant, summary in summaries.items():
            self.measurements.append(
                {
                    "scenario": scenario,
                    "backend": backend,
                    "group": group,
                    "variant": variant,
                    **params,
                    **summary,
                }
            )

    def ratio(
        self,
        scenario: str,
        backend: str,
        group: str,
        numerator: str,
        denominator: str,
        value: dict[str, float],
        paired: bool = True,
        how: str = "paired by round",
    ) -> dict[str, Any]:
        record = {
            "scenario": scenario,
            "backend": backend,
            "group": group,
            "numerator": numerator,
            "denominator": denominator,
            "paired": paired,
            "how": how,
            **value,
        }
        self.ratios.append(record)
        return record

    def fact(self, scenario: str, backend: str, name: str, **values: Any) -> None:
        """A measurement that is not a time per call (sizes, counts, throughput)."""
        self.facts.append({"scenario": scenario, "backend": backend, "name": name, **values})

    def skip(self, scenario: str, what: str, why: str) -> None:
        self.skipped.append({"scenario": scenario, "what": what, "why": why})

    def find(self, scenario: str, backend: str, group: str, variant: str) -> dict[str, Any] | None:
        for record in self.measurements:
            if (record["scenario"], record["backend"], record["group"], record["variant"]) == (
                scenario,
                backend,
                group,
                variant,
            ):
                return record
        return None

    def part(self) -> dict[str, Any]:
        """What this process measured, for the run's :meth:`merge`."""
        return {key: getattr(self, key) for key in PARTS}

    def merge(self, part: dict[str, Any]) -> None:
        for key in PARTS:
            getattr(self, key).extend(part[key])

    def document(self) -> dict[str, Any]:
        return {
            "schema": "cachefresh-bench/1",
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "duration_s": round(time.time() - self.started, 1),
            "machine": machine(),
            "versions": versions(),
            "settings": self.settings,
            "backends": self.backends,
            "measurements": self.measurements,
            "ratios": self.ratios,
            "facts": self.facts,
            "targets": self.targets,
            "skipped": self.skipped,
        }

    def write(self, path: Path) -> dict[str, Any]:
        document = self.document()
        path.write_text(json.dumps(document, indent=1, default=str) + "\n")
        return document


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
        info["load_average"] = os.getloadavg()
    except OSError:
        pass
    return info


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    found["git_commit"] = _git_commit()
    return found


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None
