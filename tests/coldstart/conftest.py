"""The cold-start tests' table: the what-bypasses-what table of this torch, checked or (with
``--ragperf-update-expected``) regenerated."""

import pytest


@pytest.fixture(scope="session")
def bypass_table(pytestconfig: pytest.Config):
    from ragperf.compile.bypass import BypassTable
    from ragperf.compile.expected import EXPECTED_DIR

    table = BypassTable.load(pytestconfig.rootpath / EXPECTED_DIR)
    table.updating = bool(pytestconfig.getoption("--ragperf-update-expected"))
    yield table
    if table.updating and table.recorded:
        table.save()


@pytest.fixture
def own_tempdir(tmp_path, monkeypatch):
    """The matrix's temporary folders go under a folder of this test's own, to prove they are removed."""
    import tempfile

    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root
