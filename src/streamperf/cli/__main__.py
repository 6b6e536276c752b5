"""`python -m streamperf.cli`: the `streamperf` command."""

import sys

from streamperf.cli.main import main

sys.exit(main())
