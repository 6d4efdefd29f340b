"""``python -m zuora_wf_async.cli``: the same as the ``zuora-wf`` console script."""

import sys

from zuora_wf_async.cli import main

sys.exit(main())
