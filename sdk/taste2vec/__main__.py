"""``python -m taste2vec`` = the ``taste2vec`` command."""

import sys

from .cli import main

sys.exit(main())
