"""Fuzz harnesses for the host decoders (see ``docs/fuzzing.md``).

* :mod:`.targets`: ``fuzz_one_input``-style entry points (``TARGETS``) and their oracles;
* :mod:`.reference`: the naive model of upstream's bulk parsers the bulk oracle compares
  with; :mod:`.serial_reference`: the plain line-by-line serial decoder the fast one is
  compared with;
* :mod:`.corpus`: seed corpora from ``fixtures/`` and built-in samples;
* :mod:`.runner`: the in-process ``mutate`` and ``hypothesis`` engines
  (:mod:`.hypothesis_entry`: each target as a hypothesis ``fuzz_one_input`` entry);
* :mod:`.differential`: comparing an external bulk decoder with ours, with shrinking.

The structure-aware mutators themselves live in ``ktstr_guest.fuzz``; atheris entry
scripts in ``fuzz/atheris_*.py``; the CLI is ``ktstr-host fuzz``.
"""
