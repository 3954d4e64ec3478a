"""Whether two runs may be compared: the same GPUs and driver, the same timing settings."""

from __future__ import annotations

from typing import Any


def _gpu_names(meta: dict[str, Any]) -> list[str] | None:
    prov = meta.get("provenance")
    if not isinstance(prov, dict):
        return None
    return sorted(str(g.get("name")) for g in prov.get("gpus") or [])


def machine_differences(meta_a: dict[str, Any], meta_b: dict[str, Any]) -> list[str]:
    """What differs between two runs' GPU models and drivers (``run.json`` provenance).

    Returns:
        Human-readable differences, empty when the GPUs and the driver are the same.
    """
    diffs = []
    ga, gb = _gpu_names(meta_a), _gpu_names(meta_b)
    if ga != gb:
        diffs.append(f"GPUs {ga if ga is not None else 'unknown'} vs {gb if gb is not None else 'unknown'}")
    da = (meta_a.get("provenance") or {}).get("driver_version")
    db = (meta_b.get("provenance") or {}).get("driver_version")
    if da != db:
        diffs.append(f"driver {da or 'unknown'} vs {db or 'unknown'}")
    return diffs


#: run options that change step times (``run.json`` ``options``; None = TensorFlow's default)
TIMING_OPTIONS: dict[str, str] = {
    "intra_op_threads": "intra-op threads",
    "inter_op_threads": "inter-op threads",
}
#: machine settings that change step times (``run.json`` ``provenance.timing``)
TIMING_MACHINE: dict[str, str] = {
    "cpu_count": "CPU count",
    "cpu_affinity": "CPU affinity",
    "cpu_governor": "CPU governor",
    "cpu_boost": "CPU boost",
}
#: per-GPU settings that change step times (``provenance.timing.gpu_clocks[i]``)
TIMING_GPU: tuple[str, ...] = (
    "persistence_mode",
    "sm_app_clock_mhz",
    "mem_app_clock_mhz",
    "power_limit_w",
    "compute_mode",
)
#: environment variables that size thread pools (``provenance.env``)
THREAD_ENV_VARS: tuple[str, ...] = ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def timing_settings_differences(meta_a: dict[str, Any], meta_b: dict[str, Any]) -> list[str]:
    """What differs between the settings two runs were timed with (``run.json`` of each).

    Compared: the thread pools the run asked for (``options``; absent means TensorFlow's
    default), the thread environment variables, CPU count, affinity, governor and boost, and
    each GPU's persistence mode, application clocks, power limit and compute mode
    (``provenance.timing``). A machine setting that one run did not record (an older run) or
    could not read (None) is not compared.

    Returns:
        Human-readable differences (``"intra-op threads 1 vs default"``), empty when none.
    """
    diffs = []
    opts_a, opts_b = meta_a.get("options") or {}, meta_b.get("options") or {}
    for key, label in TIMING_OPTIONS.items():
        va, vb = opts_a.get(key), opts_b.get(key)
        if va != vb:
            diffs.append(f"{label} {_or(va, 'default')} vs {_or(vb, 'default')}")
    prov_a, prov_b = meta_a.get("provenance") or {}, meta_b.get("provenance") or {}
    env_a, env_b = prov_a.get("env") or {}, prov_b.get("env") or {}
    for var in THREAD_ENV_VARS:
        if env_a.get(var) != env_b.get(var):
            diffs.append(f"{var} {_or(env_a.get(var), 'unset')} vs {_or(env_b.get(var), 'unset')}")
    ta, tb = prov_a.get("timing"), prov_b.get("timing")
    if not isinstance(ta, dict) or not isinstance(tb, dict):
        return diffs
    diffs += _known_differences(ta, tb, TIMING_MACHINE, "")
    gpu_labels = {key: key.replace("_", " ") for key in TIMING_GPU}
    for ga, gb in zip(ta.get("gpu_clocks") or [], tb.get("gpu_clocks") or [], strict=False):
        diffs += _known_differences(ga, gb, gpu_labels, f"GPU {ga.get('index')} ")
    return diffs


def _or(value: Any, missing: str) -> str:
    return missing if value is None else str(value)


def _known_differences(
    a: dict[str, Any], b: dict[str, Any], labels: dict[str, str], prefix: str
) -> list[str]:
    """``"<prefix><label> A vs B"`` for each key both dicts know (not None) and that differs."""
    return [
        f"{prefix}{label} {a[key]} vs {b[key]}"
        for key, label in labels.items()
        if a.get(key) is not None and b.get(key) is not None and a[key] != b[key]
    ]
