"""``python -m ragperf.jobs NAME [ARGUMENTS]``: see :mod:`ragperf.jobs.child`."""

import sys

from ragperf.jobs.child import main

sys.exit(main())
