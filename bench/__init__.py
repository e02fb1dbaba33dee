"""Benchmarks of the file services against the embedded stack (``make bench``).

Why a harness of its own: the issue's targets compare our connector and interrogation
with GHGA's client and with raw ceilings on the same stack in the same run, so every
number must be measured the same way (a subprocess, wall time, peak RSS) and reported
with its conditions. Entry point: ``python -m bench --help``.
"""
