"""Results: the run folder and what is read from it.

- :mod:`~suite.results.run_dir`: the one module that knows and writes the files of a run
  (``run.json``, ``plan.json``, ``records.jsonl``, outputs, logs, traces, report files);
- :mod:`~suite.results.record`: :class:`~suite.results.record.Record`, one case's result;
- :mod:`~suite.results.columns`: ``records.jsonl`` read as Arrow columns in bounded memory;
- :mod:`~suite.results.frame`: the typed pandas frame (``load_frame()``, ``table.parquet``);
- :mod:`~suite.results.compare_cache`: the columns ``compare`` reads, cached in the run folder.
"""
