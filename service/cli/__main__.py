"""``python -m service.cli``: the ``tuwen`` command."""

import sys

from service.cli import main

sys.exit(main())
