"""Every count and duration an option takes - ``ragperf`` subcommands, child jobs, ``--ragperf-*`` plugin options -
is bounded: an :class:`~ragperf.argtypes.Count` or :class:`~ragperf.argtypes.Amount` whose bound is in ``--help``
and in the one line that refuses a value past it (nan and inf too). A bare ``int`` or ``float`` type is unbounded."""

from __future__ import annotations

import argparse

import pytest

from ragperf import argtypes, cli
from ragperf.jobs import child

BOUNDED = (argtypes.Count, argtypes.Amount)


def _parser_actions(parser: argparse.ArgumentParser, prog: str):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parser_actions(sub, f"{prog} {name}")
        else:
            yield prog, action.option_strings[0] if action.option_strings else action.dest, action.type, action.help


def _plugin_actions():
    import ragperf.evidence.plugin
    import ragperf.perf.plugin
    import ragperf.plugin

    class Recorder:  # stands in for pytest's parser
        def __init__(self):
            self.found = []

        def getgroup(self, *args, **kwargs):
            return self

        def addoption(self, *names, **settings):
            self.found.append(("pytest", names[0], settings.get("type"), settings.get("help")))

    recorder = Recorder()
    for module in (ragperf.plugin, ragperf.perf.plugin, ragperf.evidence.plugin):
        module.pytest_addoption(recorder)
    return recorder.found


def _all_actions():
    yield from _parser_actions(cli.build_parser(), "ragperf")
    for name in child.JOBS:
        yield from _parser_actions(child.parser_for(name)[0], f"{child.PROG} {name}")
    yield from _plugin_actions()


ACTIONS = list(_all_actions())
NUMERIC = [a for a in ACTIONS if isinstance(a[2], BOUNDED)]


def test_no_option_takes_an_unbounded_number():
    bare = [f"{prog} {option}" for prog, option, kind, _ in ACTIONS if kind in (int, float)]
    assert not bare, f"give these a Count or an Amount (argtypes): {bare}"
    assert len(NUMERIC) >= 30  # the walk reached the subcommands, the jobs and the plugin


@pytest.mark.parametrize(("prog", "option", "kind", "help_text"), NUMERIC, ids=[f"{a[0]} {a[1]}" for a in NUMERIC])
def test_a_bounded_option_states_its_bound_and_refuses_past_it(prog, option, kind, help_text):
    bound = f"{kind.high:g}" if isinstance(kind, argtypes.Amount) else str(kind.high)
    assert help_text == argparse.SUPPRESS or kind.bounds in (help_text or "") or f"at most {bound}" in help_text, \
        f"{prog} {option}: --help does not state {kind.bounds}: {help_text!r}"
    past = [str(int(kind.high) + 1), "1e400", "nan", "inf", "-inf", ""]
    for text in past:
        with pytest.raises(argparse.ArgumentTypeError) as refused:
            kind(text)
        message = str(refused.value)
        assert bound in message and "\n" not in message, message
    assert kind(str(kind.high)) == kind.high  # the bound itself is allowed
