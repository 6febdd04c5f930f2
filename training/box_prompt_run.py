"""`python -m training.box_prompt_run`: the command the bundled box networks' cards record; the
same as `python -m training.prompt_run` (``--prompt box`` by default)."""

import sys

from training.prompt_run import main

if __name__ == "__main__":
    sys.exit(main())
