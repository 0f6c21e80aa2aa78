"""``python -m lambdacron``: the same as the ``lambdacron`` command."""

from lambdacron.cli import main

main()
