"""The batch: many runs of one workflow, their outcomes, and the journal that resumes them.

- ``options.py``   ``BatchOptions``: the keywords ``run_many`` and ``stream_runs`` share.
- ``fanout.py``    ``FanOut``: one item's key, run and outcome; the batch's pre-flight.
- ``pool.py``      the worker pool and ``RunStream``: bounded read-ahead, cancellation.
- ``outcomes.py``  ``RunRequest`` in, ``RunOutcome`` out, ``BatchError``.
- ``keys.py``      ``derive_key``.
- ``journal*.py``  ``BatchJournal``: its lines, its state per key, its lock.
- ``resume.py``    a batch read and recorded through a journal.

The CLI's ``zuora-wf batch`` (``cli/_batch.py``, ``cli/_journal.py``) sits on top of these.
"""
