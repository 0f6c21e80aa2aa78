"""lambdacron's benchmarks (issue 6): ``python -m benchmarks`` or ``nox -s bench``.

The modules follow the data: ``synth`` makes projects and manifests of any size; ``tick``,
``coldstart``, ``compiler`` and ``dispatch`` measure each figure beside its baseline; ``report``
holds the rows, prints the tables and writes ``build/bench.json``; ``servers`` runs the loopback
moto and HTTP servers the dispatch fires at.
"""
