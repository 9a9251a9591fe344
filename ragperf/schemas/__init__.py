"""Every file ragperf writes and reads back, as one typed schema per kind (pydantic models).

A loader reads a file through :func:`ragperf.schemas.base.load`: what cannot be read, a foreign or newer
schema, and a missing, mistyped or non-finite field each stop with one :class:`ragperf.errors.RagperfError`
line naming the file, the field and what to give. Numbers are finite (NaN and inf refused) wherever a
schema holds one. The models describe the files as they are on disk: nothing here changes a format.

- :mod:`ragperf.schemas.base`          reading, the version rule, one line per validation error, finite numbers
- :mod:`ragperf.schemas.baseline`      a perf baseline (``baselines/perf/*.json``)
- :mod:`ragperf.schemas.gate_report`   a gate report (``--ragperf-perf-report``, ``baseline compare --report``)
- :mod:`ragperf.schemas.release_side`  a saved release side (``ragperf release PYTHON --save``), and its older form
- :mod:`ragperf.schemas.release_report`  a release report (``ragperf release OLD NEW --json``), read by ``--merge``
- :mod:`ragperf.schemas.campaign`      a saved prove-gate campaign (``prove-gate --save``)
- :mod:`ragperf.schemas.bundle`        a repro bundle's ``env.json``
- :mod:`ragperf.schemas.table`         the rows of an expected-behaviour CSV table (``baselines/expected/*.csv``)
- :mod:`ragperf.schemas.manifest`      a carried compile artifact's manifest (``<artifact>.json``)
"""
