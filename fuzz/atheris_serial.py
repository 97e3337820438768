"""atheris entry for the ``serial`` fuzz target.

Usage: ``python fuzz/atheris_serial.py [libFuzzer flags] [corpus dirs]`` (docs/fuzzing.md).
"""

from __future__ import annotations

from atheris_main import main

if __name__ == "__main__":
    main("serial")
