"""The machine and software block of a report, read from ``run.json``."""

from __future__ import annotations

from typing import Any

from suite.report.table import MISSING, as_float
from suite.text import clean_line, command


def _yes_no(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return MISSING if value is None else str(value)


def _command(argv: Any) -> str:
    """The command line of ``run.json``, quoted so that it can be copied into a shell."""
    if not isinstance(argv, list) or not argv:
        return MISSING
    return command(str(a) for a in argv)


def provenance_items(meta: dict[str, Any]) -> list[tuple[str, str]]:
    """The machine and software block of a report, from ``run.json``.

    Args:
        meta: the run's ``run.json`` (may be empty or partial).

    Returns:
        ``(label, value)`` pairs; missing values are "—".
    """
    prov = meta.get("provenance") or {}
    tf = prov.get("tensorflow") or {}
    build = tf.get("build") or {}

    def val(*values: Any) -> str:
        shown = [str(v) for v in values if v not in (None, "")]
        return " ".join(shown) if shown else MISSING

    gpus = prov.get("gpus") or []
    gpu_text = []
    for g in gpus:
        mem = as_float(g.get("memory_total_bytes"))
        extra = ", ".join(
            x
            for x in (
                f"{mem / 2**30:.0f} GiB" if mem else "",
                f"cc {g['compute_capability']}" if g.get("compute_capability") else "",
                str(g.get("pci_bus_id") or ""),
            )
            if x
        )
        gpu_text.append(f"{g.get('index', '?')}: {g.get('name', '?')}" + (f" ({extra})" if extra else ""))
    nvml = prov.get("nvml") or {}
    env = {k: v for k, v in (prov.get("env") or {}).items() if v not in (None, "")}
    commit = meta.get("git_commit")
    items = [
        ("run", val(meta.get("run_id"), f"({meta['status']})" if meta.get("status") else None)),
        ("started / finished", f"{meta.get('started_at') or MISSING} / {meta.get('finished_at') or MISSING}"),
        ("command", _command(meta.get("argv"))),
        (
            "pairbench",
            val(meta.get("pairbench_version") or prov.get("pairbench"), commit and f"({commit[:12]})"),
        ),
        ("TensorFlow", val(tf.get("version"), tf.get("git_version") and f"({tf.get('git_version')})")),
        (
            "TF build",
            "CUDA build: "
            + _yes_no(build.get("is_cuda_build"))
            + f", CUDA {build.get('cuda_version') or MISSING}, cuDNN {build.get('cudnn_version') or MISSING}",
        ),
        ("Keras", val(prov.get("keras"))),
        ("GPUs", "; ".join(gpu_text) or "none"),
        (
            "driver / CUDA runtime",
            f"{prov.get('driver_version') or MISSING} / {prov.get('cuda_runtime_version') or MISSING}",
        ),
        ("NVML", "available" if nvml.get("available") else val(nvml.get("reason"))),
        ("TF32", _yes_no(prov.get("tf32_enabled"))),
        ("op determinism", _yes_no(prov.get("determinism_enabled"))),
        ("numerics env", ", ".join(f"{k}={v}" for k, v in sorted(env.items())) or "none set"),
        ("CPU", val(prov.get("cpu_model"))),
        ("host", val(prov.get("hostname"), prov.get("platform") and f"({prov['platform']})")),
        ("Python", val(prov.get("python"))),
    ]
    return [(label, clean_line(value)) for label, value in items]  # run.json is a file: any text
