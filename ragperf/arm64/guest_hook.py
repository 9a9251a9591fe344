"""Copied into the lane's venv as ``_ragperf_lane.py`` and imported at interpreter start (a ``.pth``).

GCC 12 crashes (internal compiler error in ``aarch64_sve::gimple_folder::convert_pred``) compiling
Inductor's SVE kernels against a precompiled header. Inductor has no env var for it, so this turns
``torch._inductor.config.cpp_cache_precompile_headers`` off the moment that module is imported,
without importing torch in processes that never use it (pip, plain python).
"""

import importlib.abc
import importlib.machinery
import sys

TARGET = "torch._inductor.config"


class _InductorConfigFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            module.cpp_cache_precompile_headers = False

        spec.loader.exec_module = exec_and_patch
        return spec


if not any(isinstance(f, _InductorConfigFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _InductorConfigFinder())
