"""Decode tok/s of each HF mode and the reference beside the roofline: see ragperf/jobs/gpu_bench.py (job ``gpu-bench``).

``python scripts/gpu_decode_bench.py --decoder llama-3.2-1b --json decode-h200.json``
"""

import sys

from ragperf.jobs.gpu_bench import main

if __name__ == "__main__":
    sys.exit(main())
