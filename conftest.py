"""Repository-level test setup. The fixtures themselves come from the installed ragperf plugin (pytest11)."""

import os

import pytest

# No test may reach the network: hub ids must fail fast with ragperf's offline message.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from hypothesis import HealthCheck, settings  # noqa: E402

# Compiles make the first examples slow; example counts are set per test, deadlines are not useful here.
settings.register_profile("ragperf", deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ragperf"))


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("ragperf"):
        raise pytest.UsageError("the ragperf pytest plugin is not loaded: install the package first "
                                "(pip install -c constraints.txt -e .)")


pytest_plugins = ["pytester"]


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """tempfile's folder for this test alone, so the temporary folders a job leaves behind are this test's."""
    import tempfile

    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder
