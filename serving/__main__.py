"""`python -m serving ...` runs the serve command (or `predict ...`)."""

from serving.cli import main

main()
