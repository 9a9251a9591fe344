"""The perf gate's summary names the upgrade it judged: baseline versions next to the measured run's."""

from ragperf.perf.machine import upgrade_line, versions

OLD = {"torch": "2.13.0+cpu", "transformers": "5.23.0", "onednn": "3.12.0", "python": "3.11.7", "arch": "x86_64"}


def test_an_upgrade_is_named_field_by_field():
    new = {**OLD, "torch": "2.14.1", "onednn": "3.13.0"}
    line = upgrade_line(OLD, new)
    assert line.startswith("versions: baseline torch 2.13.0+cpu, transformers 5.23.0, oneDNN 3.12.0, Python 3.11.7; "
                           "this run torch 2.14.1, transformers 5.23.0, oneDNN 3.13.0, Python 3.11.7")
    assert line.endswith("(upgrade judged: torch 2.13.0+cpu -> 2.14.1, oneDNN 3.12.0 -> 3.13.0)")


def test_same_versions_and_published_baselines_say_so():
    assert upgrade_line(OLD, dict(OLD)).endswith("(same versions: no software upgrade judged)")
    published = upgrade_line({"arch": "aarch64"}, OLD)  # published figures carry no versions
    assert "baseline recorded without versions" in published and versions(OLD) in published
    assert versions({}) == "versions not recorded"
