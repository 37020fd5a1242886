"""The project's benchmarks and experiment scripts, one module each.

Run them from the repository root as modules, ``python -m benchmarks.NAME [options]`` (for
example ``python -m benchmarks.quality all``), so they import each other, their shared
helpers (:mod:`benchmarks.common`) and the fuzz harness (``tests/test_fuzz.py``, as
``tests.test_fuzz``) without editing ``sys.path``. Their latest output is in
``benchmarks/results/``.
"""
