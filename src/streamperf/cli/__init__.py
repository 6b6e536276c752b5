"""The `streamperf` command: one module per subcommand, wired in main.py."""

from streamperf.cli.main import main as main
