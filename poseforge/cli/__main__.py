"""`python -m poseforge.cli`: the same as the `poseforge` command."""

import sys

from poseforge.cli import main

sys.exit(main())
