"""The batch: many runs of one workflow, their outcomes, and the journal that resumes them.

- ``options.py``   ``BatchOptions``: the keywords ``run_many`` and ``stream_runs`` share.
- ``fanout.py``    ``FanOut``: one item's key, run and outcome; the batch's pre-flight.
- ``stream.py``    ``RunStream``: the worker pool, bounded read-ahead, cancellation.
- ``outcomes.py``  ``RunRequest`` in, ``RunOutcome`` out, ``BatchError``.
- ``keys.py``      ``derive_key``.
- ``journal*.py``  ``BatchJournal`` (``wrap`` reads a batch's items through it), its
                   lines and what they say per key, its lock.

The CLI's ``zuora-wf batch`` (``cli/_batch.py``, ``cli/_journal.py``) sits on top of these.
"""
