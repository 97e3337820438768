"""atheris entry for the ``bulk-cap`` fuzz target (real 16 MiB cap, CPU budget per input).

Usage: ``python fuzz/atheris_bulk-cap.py [libFuzzer flags] [corpus dirs]`` (docs/fuzzing.md).
"""

from __future__ import annotations

from atheris_main import main

if __name__ == "__main__":
    main("bulk-cap")
