"""Planning many instances at once: `schedopt batch` and `schedopt compare`, and their Python API.

    sources.py   PATHs (files, directories, globs) -> instance items with stable ids; formats detected
    records.py   the JSON-line record of one solve, and the results file (append, resume)
    work.py      what a worker runs: solve one task with solver.solve, re-check the plan, make a record
    backends.py  where tasks run: inline, a local process pool, or Ray tasks
    batch.py     run_batch: every instance once, progress, resume, summary
    compare.py   run_compare: engines x budgets on every instance; CSV, Markdown and PNG reports

Nothing here knows a family: kinds come from solver.REGISTRY and file formats from service.inputs.
"""

from service.planning.records import Record
from service.planning.sources import Item, expand, item_from_request

__all__ = ["Item", "Record", "expand", "item_from_request"]
