"""Tooling that never runs in Lambda: the local pipeline on moto (``local``),
the synthetic traffic generator (``traffic``), the demo (``demo``) and AWS's
Athena regex as a per-line oracle (``athena_regex``).

The Lambda bundle leaves this package out (``infra/bundling.py``) and the
handler never imports it.
"""
