"""Command-line interface generated from the command table (saekit.commands): ``main.py`` builds the
parser and runs the command, ``configcli.py`` turns config dataclasses into flags; what a command
prints after its run is its folder's ``summary.py``, named by its table entry."""
