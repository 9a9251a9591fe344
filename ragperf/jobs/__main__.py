"""``python -m ragperf.jobs NAME [ARGUMENTS]``: see :mod:`ragperf.jobs.child`. SIGTERM (what the parent's
stop sends) and Ctrl-C unwind the job - its temporary folders removed - and exit 143 / 130."""

import sys

from ragperf.jobs.child import main
from ragperf.subproc import honour_interrupts, interrupted_exit

honour_interrupts()
try:
    code = main()
except KeyboardInterrupt as exc:
    code = interrupted_exit(exc)
sys.exit(code)
