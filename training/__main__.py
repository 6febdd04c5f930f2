import sys

from training.run import main

sys.exit(main())
