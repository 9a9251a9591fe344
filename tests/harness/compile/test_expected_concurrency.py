"""Expected-table updates from several processes (``pytest -n N --ragperf-update-expected``) lose no rows."""

import threading

from ragperf.compile.expected import COUNT_FIELDS, ExpectedTable, save_lock

COUNTS = dict.fromkeys(COUNT_FIELDS, 1)
OLD, A, B = ("old", "auto", "eager"), ("a", "auto", "eager"), ("b", "auto", "eager")


def _table_with_one_row(tmp_path):
    seed = ExpectedTable(tmp_path / "t.csv")
    seed.record(OLD, COUNTS)
    seed.save()


def test_two_workers_that_loaded_the_same_table_keep_each_others_rows(tmp_path):
    _table_with_one_row(tmp_path)
    worker_a, worker_b = ExpectedTable.load(tmp_path, "t.csv"), ExpectedTable.load(tmp_path, "t.csv")
    worker_a.record(A, COUNTS)
    worker_b.record(OLD, {**COUNTS, "graphs": 7})  # b re-records a row that a merely loaded
    worker_b.record(B, COUNTS)
    worker_b.save()
    worker_a.save()  # the last writer must not bring back the old row nor drop b's new one
    rows = ExpectedTable.load(tmp_path, "t.csv").rows
    assert set(rows) == {OLD, A, B}
    assert rows[OLD]["graphs"] == 7


def test_save_waits_for_another_process_holding_the_table(tmp_path):
    _table_with_one_row(tmp_path)
    before = (tmp_path / "t.csv").read_text()
    worker = ExpectedTable.load(tmp_path, "t.csv")
    worker.record(A, COUNTS)
    with save_lock(worker.path):  # another worker is in the middle of its read-merge-write
        saver = threading.Thread(target=worker.save)
        saver.start()
        saver.join(timeout=0.5)
        assert saver.is_alive(), "save() wrote while another process held the table's lock"
        assert (tmp_path / "t.csv").read_text() == before
    saver.join(timeout=30)
    assert set(ExpectedTable.load(tmp_path, "t.csv").rows) == {OLD, A}
