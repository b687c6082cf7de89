"""Run the switchboard command with `python -m switchboard`."""

from switchboard.cli import main

main()
