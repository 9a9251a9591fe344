"""Subcommands of the ``ragperf`` command, one module each (see :mod:`ragperf.cli`)."""
