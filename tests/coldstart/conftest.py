"""The cold-start tests' table: the what-bypasses-what table of this torch, checked or (with
``--ragperf-update-expected``) regenerated."""

import pytest


@pytest.fixture(scope="session")
def bypass_table(pytestconfig: pytest.Config):
    from ragperf.coldstart.bypass import BypassTable
    from ragperf.compile.expected import EXPECTED_DIR

    table = BypassTable.load(pytestconfig.rootpath / EXPECTED_DIR)
    table.updating = bool(pytestconfig.getoption("--ragperf-update-expected"))
    yield table
    if table.updating and table.recorded:
        table.save()
