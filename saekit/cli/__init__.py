"""Command-line interface generated from the command registry (saekit.commands): ``main.py`` builds
the parser, ``configcli.py`` turns config dataclasses into flags, ``reports.py`` prints each
command's summary of its result."""
