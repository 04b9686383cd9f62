"""`python -m kdnas`: the same as the `kdnas` command."""

import sys

from kdnas.cli import main

sys.exit(main())
