"""Command groups of the `simhost` command line, each attached to the main group by simhost.cli."""
