"""``pairbench merge`` builds its run folder in one step: complete, or nothing (issue 27).

Shards that wrote their default report (the workflow of docs/scale.md) merge; a refused merge
(a damaged line, a string ``schema_version``, an emptied records file, another run's records)
is one line, exit 2, and leaves no folder, hidden or not, next to the shards.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_runs import case, make_record, make_run, standard_records

from suite.cli import main
from suite.report import write_report
from suite.results.run_dir import RunDir
from suite.run.options import make_options
from suite.run.shard import plan_digest

RECORDS = standard_records()
HALF = len(RECORDS) // 2


def _shard(results: Path, run_id: str, k: int, records) -> RunDir:
    """A finished shard ``k`` of 2 of :data:`RECORDS`, as ``run --shard k/2`` leaves it."""
    run = make_run(results, records, run_id=run_id)
    meta = run.read_meta()
    meta.update(
        options=make_options(shard=f"{k}/2").to_dict(),
        shard={
            "index": k,
            "count": 2,
            "plan_cases": len(RECORDS),
            "plan_sha256": plan_digest([r.case for r in RECORDS]),
        },
        machine="m",
    )
    run.write_meta(meta)
    run.write_plan([r.case.to_dict() for r in records])
    return run


@pytest.fixture
def shards(tmp_path) -> Path:
    results = tmp_path / "results"
    _shard(results, "s1", 1, RECORDS[:HALF])
    _shard(results, "s2", 2, RECORDS[HALF:])
    return results


def _merge(results: Path, *extra: str) -> int:
    return main(["merge", "s1", "s2", "--run-id", "all", "--results-dir", str(results), *extra])


def test_shards_that_wrote_their_default_report_merge(shards, capsys):
    for shard in ("s1", "s2"):
        write_report(RunDir(shards / shard))  # report files, plots and the compare cache in both
        assert (shards / shard / "cache" / "compare-columns.parquet").is_file()
    assert _merge(shards) == 0, capsys.readouterr().err
    merged = RunDir(shards / "all")
    assert merged.read_meta()["status"] == "finished"
    assert sorted(r.case_id for r in merged.records()) == sorted(r.case_id for r in RECORDS)
    assert (merged.path / "report.html").is_file()
    assert sorted(p.name for p in shards.iterdir()) == ["all", "s1", "s2"]


def _append(text: str | bytes):
    def damage(run: Path) -> None:
        with open(run / "records.jsonl", "ab") as fh:
            fh.write(text if isinstance(text, bytes) else text.encode())

    return damage


def _string_version(run: Path) -> None:
    data = json.loads(make_record(case(member="raw", device="cpu")).to_json())
    _append(json.dumps({**data, "schema_version": "1"}) + "\n")(run)


def _foreign(run: Path) -> None:
    _append(make_record(case(pair="cnn", member="raw", device="cpu")).to_json() + "\n")(run)


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (_append(b"\x00\xff\xfe\x80binary\n"), ["records.jsonl:"]),
        (_append("[1, 2, 3]\n"), ["records.jsonl:", "list"]),
        (_append("x" * 2_000_000 + "\n"), ["records.jsonl:", "not JSON"]),
        (_string_version, ["records.jsonl:", "schema_version"]),
        (lambda run: (run / "records.jsonl").write_text(""), ["s2 has no records"]),
        (_foreign, ["not in the plan of run s2"]),
    ],
    ids=["binary-line", "json-list-line", "huge-garbage-line", "string-schema-version", "empty", "foreign"],
)
def test_a_refused_merge_leaves_no_folder(shards, capsys, damage, words):
    damage(shards / "s2")
    before = {p: p.read_bytes() for p in (shards / "s1" / "run.json", shards / "s2" / "run.json")}
    assert _merge(shards) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    assert sorted(p.name for p in shards.iterdir()) == ["s1", "s2"]  # no merged folder, no hidden one
    assert all(path.read_bytes() == data for path, data in before.items())
