"""Synthesize realistic run folders from :class:`suite.results.record.Record` objects.

For tests of reports, comparisons and anything else that reads runs: the records
follow the documented schema (docs/ARCHITECTURE.md) exactly, timings come from a
seeded generator (so the same arguments always give the same run), and the run folder
is written with the real :func:`suite.results.runs.create_run` / :meth:`RunDir.append` /
:meth:`RunDir.write_meta`.

Typical use::

    run_a = make_run(tmp_path, standard_records(), run_id="a")
    slow = {NONDET_CASE_ID: 1.5}
    run_b = make_run(tmp_path, [slowed(r, slow.get(r.case_id, 1.0)) for r in standard_records()])
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from suite.case import Case
from suite.results.record import Record
from suite.results.run_dir import RunDir
from suite.results.runs import create_run

H100 = "NVIDIA H100 80GB HBM3"
DRIVER = "550.54.15"


def case(
    pair: str = "mlp",
    member: str = "sequential",
    workload: str = "predict",
    mode: str = "eager",
    device: str = "gpu:0",
    precision: str = "float32",
    determinism: str = "off",
    size: str = "tiny",
) -> Case:
    """A :class:`Case` with defaults for every axis."""
    return Case(pair, member, workload, mode, device, precision, determinism, size)


def metrics(max_abs: float, max_ulp: float | None = None, *, n_elements: int = 2048) -> dict[str, Any]:
    """A METRICS dict consistent with ``max_abs`` (0 means bitwise equal)."""
    if max_ulp is None:
        max_ulp = 0.0 if max_abs == 0 else max(1.0, round(max_abs / 1.2e-7))
    equal = max_abs == 0
    return {
        "max_abs": float(max_abs),
        "max_rel": float(max_abs * 4.0),
        "max_ulp": float(max_ulp),
        "p99_ulp": float(max_ulp // 2),
        "cosine": 1.0 if equal else 1.0 - max_abs,
        "rmse": float(max_abs / 3.0),
        "frac_diff": 0.0 if equal else 0.25,
        "bitwise_equal": equal,
        "nan_count": 0,
        "inf_count": 0,
        "worst_tensor": "output",
        "n_elements": n_elements,
    }


def rerun(runs: int = 3, distinct: int = 1, max_abs: float = 0.0, max_ulp: float = 0.0) -> dict[str, Any]:
    """A RERUN dict."""
    return {"runs": runs, "distinct": distinct, "max_abs": float(max_abs), "max_ulp": float(max_ulp)}


def timing(
    base_step_s: float,
    *,
    repeats: int = 5,
    batch: int = 32,
    steps_per_repeat: int = 10,
    compile_s: float = 0.4,
    noise: float = 0.02,
    seed: int = 0,
) -> dict[str, Any]:
    """A timing dict whose summary fields are computed from seeded per-repeat samples."""
    rng = np.random.default_rng(seed)
    steps = base_step_s * (1.0 + noise * rng.standard_normal(repeats))
    p10, p25, p50, p75, p90 = np.percentile(steps, [10, 25, 50, 75, 90])
    return {
        "compile_s": float(compile_s),
        "step_s_median": float(p50),
        "step_s_p10": float(p10),
        "step_s_p90": float(p90),
        "step_s_iqr": float(p75 - p25),
        "step_s": [float(s) for s in steps],
        "samples_per_s": float(batch / p50),
        "steps_per_repeat": steps_per_repeat,
        "batch": batch,
        "repeats": repeats,
    }


def _seed_of(text: str, seed: int) -> int:
    return zlib.crc32(text.encode()) + seed


def make_record(
    c: Case,
    verdict: str = "identical",
    *,
    reason: str = "",
    base_step_s: float | None = 0.002,
    divergence: dict[str, Any] | None = None,
    localisation: dict[str, Any] | None = None,
    profile: dict[str, Any] | None = None,
    peak_device_bytes: int | None = 48 * 2**20,
    seed: int = 0,
) -> Record:
    """One record for case ``c``; ``base_step_s=None`` means the case never timed (error...)."""
    gpu = c.device.startswith("gpu")
    tim = {} if base_step_s is None else timing(base_step_s, seed=_seed_of(c.case_id, seed))
    return Record(
        case=c,
        verdict=verdict,
        reason=reason,
        timing=tim,
        memory={
            "peak_device_bytes": peak_device_bytes if gpu else None,
            "host_rss_bytes": 900 * 2**20,
        },
        divergence=divergence if divergence is not None else {},
        numerics={
            "tf32_enabled": gpu and c.precision == "tf32",
            "determinism_enabled": c.determinism == "on",
            "dtype_policy": c.precision if c.precision.startswith("mixed") else "float32",
            "jit_compile": c.mode == "xla",
            "tf_device": "/GPU:0" if gpu else "/CPU:0",
        },
        localisation=localisation,
        profile=profile,
        telemetry={"gpu_util_pct_mean": 61.0, "power_w_max": 250.0} if gpu else {"reason": "cpu case"},
        extra={"worker_pid": 4242, "wall_s": 3.2},
    )


def _div(pair: float | None, eager: float | None, cpu: float | None, fp64: float, rr: dict) -> dict[str, Any]:
    return {
        "vs_pair": None if pair is None else metrics(pair),
        "vs_eager": None if eager is None else metrics(eager),
        "vs_cpu": None if cpu is None else metrics(cpu),
        "vs_fp64": metrics(fp64),
        "rerun": rr,
    }


NONDET_CASE_ID = "embedding.functional.train_step.eager.gpu0.float32.det-off.tiny"
MISMATCH_CASE_ID = "mlp.faulty.predict.eager.gpu0.float32.det-off.tiny"


def standard_records(seed: int = 0) -> list[Record]:
    """A small, realistic run: 19 cases covering every verdict.

    * ``mlp`` x sequential/functional/subclass/raw x eager/function/xla on ``gpu:0``: eager
      members bitwise equal, XLA ``close`` (rounding), one CPU row;
    * ``mlp`` faulty: ``structural-mismatch`` (no bias in dense_1);
    * ``embedding`` train_step: ``nondeterministic`` in eager without op determinism (with
      localisation and top kernels), bitwise stable with determinism on;
    * ``cnn`` mixed_float16 XLA: ``diverged``; ``lstm`` raw XLA: ``error``; ``transformer``
      determinism on XLA: ``unsupported``.
    """
    recs: list[Record] = []
    base = {"sequential": 0.00200, "functional": 0.00202, "subclass": 0.00205, "raw": 0.00190}
    for member, step in base.items():
        for mode, factor in (("eager", 1.0), ("function", 0.45), ("xla", 0.30)):
            c = case("mlp", member, mode=mode)
            pair = None if member == "sequential" else 0.0
            eager = None if mode == "eager" else (0.0 if mode == "function" else 4.8e-7)
            verdict = "close" if mode == "xla" else "identical"
            reason = "max ULP 4 vs eager (XLA rounding)" if mode == "xla" else ""
            recs.append(
                make_record(
                    c,
                    verdict,
                    reason=reason,
                    base_step_s=step * factor,
                    divergence=_div(pair, eager, 6.0e-7, 2.4e-6, rerun()),
                    seed=seed,
                )
            )
    recs.append(
        make_record(
            case("mlp", "sequential", device="cpu"),
            "identical",
            base_step_s=0.009,
            divergence=_div(None, None, None, 2.4e-6, rerun()),
            seed=seed,
        )
    )
    recs.append(
        make_record(
            case("mlp", "faulty"),
            "structural-mismatch",
            reason="no bias in dense_1 (64,)",
            base_step_s=None,
            peak_device_bytes=None,
        )
    )
    recs.append(nondeterministic(make_record(case("embedding", "functional", "train_step"), seed=seed)))
    recs.append(
        make_record(
            case("embedding", "functional", "train_step", determinism="on"),
            "identical",
            base_step_s=0.0041,
            divergence=_div(None, None, 3.0e-7, 1.1e-6, rerun()),
            seed=seed,
        )
    )
    recs.append(
        make_record(
            case("cnn", "subclass", mode="xla", precision="mixed_float16"),
            "diverged",
            reason="max abs 3.1e-02 vs eager exceeds tolerance 1e-03",
            base_step_s=0.0011,
            divergence=_div(0.0, 3.1e-2, 3.3e-2, 3.4e-2, rerun()),
            localisation={
                "against": "vs_eager",
                "forward": {"layer": "conv_1", "ops": ["Conv2D", "Relu"], "metrics": metrics(2.0e-2)},
                "backward": None,
                "note": "",
            },
            seed=seed,
        )
    )
    recs.append(
        make_record(
            case("lstm", "raw", mode="xla"),
            "error",
            reason="XLA compilation failed: unsupported op TensorListReserve",
            base_step_s=None,
            peak_device_bytes=None,
        )
    )
    recs.append(
        make_record(
            case("transformer", "functional", mode="xla", determinism="on"),
            "unsupported",
            reason="op has no deterministic GPU implementation under XLA",
            base_step_s=None,
            peak_device_bytes=None,
        )
    )
    return recs


def nondeterministic(rec: Record, distinct: int = 3) -> Record:
    """``rec`` turned into a nondeterministic case (rerun spread, localisation, top kernels)."""
    div = dict(rec.divergence or {})
    div["rerun"] = rerun(runs=3, distinct=distinct, max_abs=2.4e-7, max_ulp=6)
    div.setdefault("vs_fp64", metrics(1.3e-6))
    div.setdefault("vs_cpu", metrics(5.0e-7))
    return dataclasses.replace(
        rec,
        verdict="nondeterministic",
        reason=f"{distinct} distinct results in 3 reruns",
        divergence=div,
        localisation={
            "against": "rerun",
            "forward": None,
            "backward": {
                "variable": "embedding/embeddings",
                "ops": ["UnsortedSegmentSum"],
                "metrics": metrics(2.4e-7),
            },
            "note": "forward pass is bitwise stable",
        },
        profile={
            "trace_dir": f"traces/{rec.case_id}",
            "kernels_csv": f"kernels/{rec.case_id}.csv",
            "top_kernels": [
                {
                    "name": "void tensorflow::UnsortedSegmentCustomKernel<float, int>",
                    "op_name": "gradients/embedding/UnsortedSegmentSum",
                    "count": 30,
                    "total_us": 812.0,
                    "mean_us": 27.1,
                    "share": 0.42,
                },
                {
                    "name": "ampere_sgemm_32x32_sliced1x4_tn",
                    "op_name": "dense_0/MatMul",
                    "count": 60,
                    "total_us": 420.0,
                    "mean_us": 7.0,
                    "share": 0.22,
                },
            ],
            "host_ops": [],
            "error": None,
        },
    )


def slowed(rec: Record, factor: float, seed: int = 1) -> Record:
    """``rec`` with every step time multiplied by ``factor`` (fresh seeded noise)."""
    if factor == 1.0 or not rec.timing:
        return rec
    t = rec.timing
    new = timing(
        t["step_s_median"] * factor,
        repeats=t["repeats"],
        batch=t["batch"],
        steps_per_repeat=t["steps_per_repeat"],
        compile_s=t["compile_s"],
        seed=_seed_of(rec.case_id, seed),
    )
    return dataclasses.replace(rec, timing=new)


def provenance(gpu_name: str = H100, driver_version: str = DRIVER, n_gpus: int = 1) -> dict[str, Any]:
    """A PROVENANCE dict as ``suite.machine.provenance.collect()`` documents it."""
    gpus = [
        {
            "index": i,
            "name": gpu_name,
            "uuid": f"GPU-0000000{i}-aaaa-bbbb-cccc-000000000000",
            "pci_bus_id": f"00000000:{i + 1:02X}:00.0",
            "memory_total_bytes": 80 * 2**30,
            "compute_capability": "9.0",
        }
        for i in range(n_gpus)
    ]
    return {
        "hostname": "gpu-node-1",
        "platform": "Linux-6.8.0-x86_64-with-glibc2.36",
        "python": "3.10.14",
        "cpu_model": "AMD EPYC 7R13 Processor",
        "tensorflow": {
            "version": "2.21.0",
            "git_version": "v2.21.0-rc0-1-gabcdef",
            "build": {"cuda_version": "12.5.1", "cudnn_version": "9", "is_cuda_build": True},
        },
        "keras": "3.15.0",
        "pairbench": "0.1.0",
        "tf_devices": ["/device:CPU:0", "/device:GPU:0"],
        "gpus": gpus,
        "driver_version": driver_version,
        "cuda_runtime_version": "12.4",
        "nvml": {"available": True, "reason": ""},
        "env": {"TF_CUDNN_DETERMINISTIC": None, "NVIDIA_TF32_OVERRIDE": None},
        "tf32_enabled": True,
        "determinism_enabled": False,
    }


def make_run(
    results_dir: Path,
    records: Iterable[Record],
    *,
    run_id: str | None = None,
    prov: dict[str, Any] | None = None,
    started_at: str = "2026-01-01T00:00:00+00:00",
) -> RunDir:
    """Write a run folder (``run.json`` + ``records.jsonl``) and return it."""
    run = create_run(Path(results_dir), run_id)
    run.write_meta(
        {
            "run_id": run.run_id,
            "started_at": started_at,
            "finished_at": started_at.replace("00:00:00", "00:05:00"),
            "argv": ["pairbench", "run", "--size", "tiny"],
            "pairbench_version": "0.1.0",
            "git_commit": "0123456789abcdef0123456789abcdef01234567",
            "selection": {"pairs": ["mlp", "embedding", "cnn", "lstm", "transformer"]},
            "provenance": prov if prov is not None else provenance(),
            "status": "finished",
        }
    )
    for rec in records:
        run.append(rec)
    return run


# ------------------------------------------------------------------------------ large runs

#: the axes a synthetic large run cycles through within each pair (2,160 cases per pair)
LARGE_AXES: dict[str, tuple[str, ...]] = {
    "member": ("sequential", "functional", "subclass", "raw", "faulty"),
    "workload": ("predict", "train_step", "fit"),
    "mode": ("eager", "function", "xla"),
    "device": ("cpu", "gpu:0"),
    "precision": ("float32", "tf32", "mixed_float16", "mixed_bfloat16"),
    "determinism": ("off", "on"),
    "size": ("tiny", "default", "large"),
}
_LARGE_PER_PAIR = int(np.prod([len(v) for v in LARGE_AXES.values()]))


def large_case(index: int, n_pairs: int) -> Case:
    """The ``index``-th case of a synthetic large run over ``n_pairs`` pairs (round-robin over pairs)."""
    pair, rest = index % n_pairs, index // n_pairs
    axes = {}
    for name, values in LARGE_AXES.items():
        rest, pos = divmod(rest, len(values))
        axes[name] = values[pos]
    return Case(pair=f"pair{pair:04d}", **axes)


def large_record_dicts(n_records: int, n_pairs: int, seed: int = 0) -> Iterable[dict[str, Any]]:
    """``n_records`` record objects (as ``records.jsonl`` holds them) of a realistic large run.

    Verdicts are mixed as in a real run: the ``faulty`` control is a structural mismatch
    (never timed); of the other cases about 1% diverge, 0.5% are nondeterministic (with a
    localisation and top kernels), 0.3% are errors and the rest are identical or close. Every
    record has five step-time samples, four divergence references and telemetry, so a line is
    about as long as a real one (~2 KB). The same arguments always give the same records.

    Raises:
        ValueError: more records than ``n_pairs`` pairs have distinct cases (2,160 per pair).
    """
    if n_records > n_pairs * _LARGE_PER_PAIR:
        raise ValueError(f"{n_records} records need at least {-(-n_records // _LARGE_PER_PAIR)} pairs")
    rng = np.random.default_rng(seed)
    close, equal = metrics(4.8e-7), metrics(0.0)
    batch = 32
    for i in range(n_records):
        c = large_case(i, n_pairs)
        draw = float(rng.random())
        base = 0.002 * (1 + (i % 97) / 50) * {"eager": 1.0, "function": 0.45, "xla": 0.3}[c.mode]
        steps = (base * (1.0 + 0.02 * rng.standard_normal(5))).tolist()
        ordered = sorted(steps)
        timing = {
            "compile_s": 0.4,
            "step_s_median": ordered[2],
            "step_s_p10": ordered[0],
            "step_s_p90": ordered[4],
            "step_s_iqr": ordered[3] - ordered[1],
            "step_s": steps,
            "samples_per_s": batch / ordered[2],
            "steps_per_repeat": 10,
            "batch": batch,
            "repeats": 5,
        }
        verdict, reason, localisation, profile = ("close" if c.mode == "xla" else "identical"), "", None, None
        divergence: dict[str, Any] = {
            "vs_pair": None if c.member == "sequential" else equal,
            "vs_eager": None if c.mode == "eager" else close,
            "vs_cpu": None if c.device == "cpu" else close,
            "vs_fp64": close,
            "rerun": rerun(5),
        }
        if c.member == "faulty":
            verdict, reason, timing, divergence = "structural-mismatch", "no bias in dense_1 (64,)", {}, {}
        elif draw < 0.010:
            verdict, reason = "diverged", "max abs 3.1e-02 vs eager exceeds tolerance 1e-03"
            localisation = {"against": "vs_eager", "forward": {"layer": "conv_1", "ops": ["Conv2D"]}}
        elif draw < 0.015:
            verdict, reason = "nondeterministic", "3 distinct results in 5 reruns"
            divergence["rerun"] = rerun(5, 3, 2.4e-7, 6)
            localisation = {"against": "rerun", "backward": {"variable": "emb/embeddings", "ops": ["Sum"]}}
            profile = {"top_kernels": [{"name": "void UnsortedSegmentCustomKernel", "share": 0.42}]}
        elif draw < 0.018:
            verdict, reason, timing, divergence = "error", "XLA compilation failed: TensorListReserve", {}, {}
        gpu = c.device != "cpu"
        yield {
            "case": c.to_dict(),
            "case_id": c.case_id,
            "verdict": verdict,
            "reason": reason,
            "timing": timing,
            "memory": {"peak_device_bytes": 48 * 2**20 if gpu else None, "host_rss_bytes": 900 * 2**20},
            "divergence": divergence,
            "numerics": {"tf32_enabled": gpu and c.precision == "tf32", "jit_compile": c.mode == "xla"},
            "localisation": localisation,
            "profile": profile,
            "telemetry": {"gpu_util_pct_mean": 61.0, "power_w_max": 250.0} if gpu else {"reason": "cpu"},
            "extra": {"worker_pid": 4242, "wall_s": 3.2},
            "flags": [],
            "notes": [],
            "schema_version": 2,
        }


def make_large_run(
    results_dir: Path, n_records: int, *, n_pairs: int | None = None, run_id: str | None = None, seed: int = 0
) -> RunDir:
    """A run folder with ``n_records`` synthetic records (see :func:`large_record_dicts`).

    ``records.jsonl`` is written in one buffered pass (appending a million records one fsync
    at a time would take an hour); the result is byte-for-byte what ``RunDir.append`` writes.
    """
    import json

    n_pairs = n_pairs or max(1, -(-n_records // _LARGE_PER_PAIR))
    run = make_run(results_dir, [], run_id=run_id)
    with open(run.records_path, "w", encoding="utf-8") as fh:
        for data in large_record_dicts(n_records, n_pairs, seed):
            fh.write(json.dumps(data, sort_keys=True) + "\n")
    return run
