"""atheris entry for the ``payloads`` fuzz target.

Usage: ``python fuzz/atheris_payloads.py [libFuzzer flags] [corpus dirs]`` (docs/fuzzing.md).
"""

from __future__ import annotations

from atheris_main import main

if __name__ == "__main__":
    main("payloads")
