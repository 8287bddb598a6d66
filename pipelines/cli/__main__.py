"""`python -m pipelines.cli`: the same as the `fundflow` command."""

import sys

from pipelines.cli import main

sys.exit(main())
