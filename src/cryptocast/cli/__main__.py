"""`python -m cryptocast.cli`."""

from cryptocast.cli import main

main()
