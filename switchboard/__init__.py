"""The `switchboard` command: wires settings, database and the packages below it."""
