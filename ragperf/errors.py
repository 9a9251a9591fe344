"""The one exception type ragperf raises for bad input."""


class RagperfError(Exception):
    """A problem the user can fix. The message is one line that says what is wrong and what to do.

    The CLI prints it without a traceback; the pytest plugin turns it into a usage error or a
    failed fixture with the same line.
    """
