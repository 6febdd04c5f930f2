"""`python -m benchmarks` runs the speed benchmark (options as `python -m benchmarks.speed`)."""

import sys

from benchmarks.speed import main

sys.exit(main())
