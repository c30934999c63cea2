"""Shared fixtures: the sample zoo (built once per session) and its scan."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

import openward
from openward._samples import Sample, build_zoo
from openward.scanning.interface import ScanReport

pytest_plugins = ["tests.fixtures_models"]


@dataclass(frozen=True)
class Zoo:
    root: Path
    benign: list[Sample]
    malicious: list[Sample]
    markers: Path


@pytest.fixture(scope="session")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Zoo:
    root = tmp_path_factory.mktemp("zoo")
    benign, malicious, markers = build_zoo(root)
    return Zoo(root, benign, malicious, markers)


@pytest.fixture(scope="session")
def zoo_report(zoo: Zoo) -> ScanReport:
    return openward.scan(zoo.root)
