"""Run the minimal pairs of docs/causes.md and print what pairbench says for each (Markdown).

    PYTHONPATH=.:tests/pairs .venv/bin/python scripts/causes_catalogue.py [TITLE ...] > /tmp/catalogue.md

Each entry is a pair from ``tests/pairs/`` (the same the tests check), run in this process
with :func:`suite.check_models`; the lines printed are the records' verdicts and reasons
(which start with the top cause) and notes. The TF32 and device entries need a GPU: without
one they show what the engine says for a GPU record's numbers (marked so).
"""

from __future__ import annotations

import os
import sys
import textwrap

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _entries() -> list[tuple]:
    """``(title, members, (x, y), modes, workloads, members shown)`` of each entry."""
    import cause_pairs as c
    import everyday_pairs as e
    import public_pairs as p
    import shuffled_pairs as n

    xy = (e.X, e.Y)
    return [
        (
            "initialization",
            {"textbook": e.textbook, "he_normal": he_normal},
            xy,
            ("eager",),
            ("predict",),
            ["he_normal"],
        ),
        (
            "untracked-variable",
            {"textbook": e.textbook, "untracked": e.untracked},
            xy,
            ("eager",),
            None,
            ["untracked"],
        ),
        (
            "shared-layer",
            {"two_hidden": e.two_hidden, "shared_hidden": e.shared_hidden},
            xy,
            ("eager",),
            ("predict",),
            ["shared_hidden"],
        ),
        (
            "missing-bias",
            {"textbook": e.textbook, "no_bias": no_bias},
            xy,
            ("eager",),
            ("predict",),
            ["no_bias"],
        ),
        (
            "activation",
            {"textbook": e.textbook, "forgot_relu": e.forgot_relu},
            xy,
            ("eager",),
            ("predict",),
            ["forgot_relu"],
        ),
        (
            "configuration",
            {"bn_torch_defaults": e.bn_torch_defaults, "bn_defaults": e.bn_defaults},
            xy,
            ("eager",),
            None,
            ["bn_defaults"],
        ),
        (
            "regularization",
            {"regularized": e.regularized, "plain_subclass": e.plain_subclass},
            xy,
            ("eager",),
            None,
            ["plain_subclass"],
        ),
        (
            "regularization (add_loss)",
            {"functional": p.autoencoder_functional, "add_loss": p.autoencoder_add_loss},
            p.PAIRS["vae_add_loss"].data,
            ("eager",),
            ("train_step",),
            ["add_loss"],
        ),
        (
            "training-flag",
            {"bn_torch_defaults": e.bn_torch_defaults, "bn_frozen": e.bn_frozen},
            xy,
            ("eager",),
            None,
            ["bn_frozen"],
        ),
        (
            "op-order",
            {"bn_torch_defaults": e.bn_torch_defaults, "relu_before_bn": e.relu_before_bn},
            xy,
            ("eager",),
            None,
            ["relu_before_bn"],
        ),
        (
            "dtype-policy",
            {"textbook": e.textbook, "mixed_layer": e.mixed_layer},
            xy,
            ("eager",),
            ("predict",),
            ["mixed_layer"],
        ),
        (
            "op-order (a layer at another place)",
            {
                "mlp_dropout": c.mlp_dropout,
                "dropout_first": c.PAIRS["dropout_first"].members[1],
                "dropout_last": c.PAIRS["dropout_last"].members[1],
            },
            c.VECTORS,
            ("eager",),
            ("train_step",),
            ["dropout_first", "dropout_last"],
        ),
        ("xla-rounding", {"textbook": e.textbook}, xy, ("eager", "xla"), ("predict",), ["textbook"]),
        (
            "random-masks",
            {"transformer": p.transformer_block},
            p.PAIRS["transformer_torch_eps"].data,
            ("eager", "xla"),
            ("train_step",),
            ["transformer"],
        ),
        (
            "nondeterministic-kernel",
            {"shuffled": n.shuffled_model},
            (n.X, None),
            ("eager",),
            ("predict",),
            ["shuffled"],
        ),
        (
            "activation (gelu)",
            {"mlp": c.mlp, "gelu": c.PAIRS["gelu"].members[1]},
            c.VECTORS,
            ("eager",),
            ("predict",),
            ["gelu"],
        ),
        (
            "extra-op",
            {
                "mlp": c.mlp,
                "input_scaled": c.PAIRS["input_scaled"].members[1],
                "l2_normalize": c.PAIRS["l2_normalize"].members[1],
            },
            c.VECTORS,
            ("eager",),
            ("predict",),
            ["input_scaled", "l2_normalize"],
        ),
        (
            "extra-op (residual)",
            {"residual": c.residual, "no_residual": c.PAIRS["no_residual"].members[1]},
            c.VECTORS,
            ("eager",),
            ("predict",),
            ["no_residual"],
        ),
        (
            "op-substitution",
            {"convnet": c.convnet, "pooling": c.PAIRS["pooling"].members[1]},
            c.IMAGES,
            ("eager",),
            ("predict",),
            ["pooling"],
        ),
        (
            "op-substitution (concatenation)",
            {"concat": c.two_branches("concat"), "concat_swapped": c.PAIRS["concat_swapped"].members[1]},
            c.VECTORS,
            ("eager",),
            ("predict",),
            ["concat_swapped"],
        ),
        (
            "op-substitution (inside a layer)",
            {"attention": c.attention, "causal_mask": c.PAIRS["causal_mask"].members[1]},
            c.SEQUENCES,
            ("eager",),
            ("predict",),
            ["causal_mask"],
        ),
        (
            "configuration (structural mismatch)",
            {
                "convnet": c.convnet,
                "padding": c.PAIRS["padding"].members[1],
                "global_pooling": c.PAIRS["global_pooling"].members[1],
            },
            c.IMAGES,
            ("eager",),
            ("predict",),
            ["padding", "global_pooling"],
        ),
        (
            "configuration (raw code)",
            {"conv_bn": c.conv_bn, "raw_bn_epsilon": c.PAIRS["raw_bn_epsilon"].members[1]},
            c.IMAGES,
            ("eager",),
            None,
            ["raw_bn_epsilon"],
        ),
        (
            "structure (outputs of another shape)",
            {"lstm": c.lstm, "return_sequences": c.PAIRS["return_sequences"].members[1]},
            c.SEQUENCES,
            ("eager",),
            None,
            ["return_sequences"],
        ),
        (
            "structure (outputs of another shape, an op)",
            {"attention": c.attention, "no_pooling": c.PAIRS["no_pooling"].members[1]},
            c.SEQUENCES,
            ("eager",),
            ("predict",),
            ["no_pooling"],
        ),
        (
            "configuration (recurrent layers)",
            {
                "lstm": c.lstm,
                "go_backwards": c.PAIRS["go_backwards"].members[1],
                "recurrent_activation": c.PAIRS["recurrent_activation"].members[1],
                "bidirectional": c.PAIRS["bidirectional"].members[1],
            },
            c.SEQUENCES,
            ("eager",),
            ("predict",),
            ["go_backwards", "recurrent_activation", "bidirectional"],
        ),
        (
            "training-flag (at inference)",
            {
                "mlp_dropout": c.mlp_dropout,
                "dropout_training_true": c.PAIRS["dropout_training_true"].members[1],
                "dropout_missing": c.PAIRS["dropout_missing"].members[1],
            },
            c.VECTORS,
            ("eager",),
            None,
            ["dropout_training_true", "dropout_missing"],
        ),
        (
            "equivalent builds",
            {
                "textbook": e.textbook,
                "activation_layer": e.activation_layer,
                "einsum_dense": e.einsum_dense,
                "nested_blocks": e.nested_blocks,
            },
            xy,
            ("eager",),
            None,
            ["activation_layer", "einsum_dense", "nested_blocks"],
        ),
    ]


def he_normal():
    import keras

    return keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(16, activation="relu", kernel_initializer="he_normal"),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )


def no_bias():
    import keras

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = keras.layers.Dense(16, activation="relu", use_bias=False)
            self.classifier = keras.layers.Dense(4, activation="softmax")

        def call(self, x):
            return self.classifier(self.hidden(x))

    return Net()


def _gpu_entry() -> list[str]:
    from suite.causes.cause import lead
    from suite.causes.engine import record_causes

    lines = []
    for label, numerics, precision in (
        ("tf32", {"tf32_enabled": True, "tf_device": "/GPU:0"}, "tf32"),
        ("device", {"tf32_enabled": False, "tf_device": "/GPU:0"}, "float32"),
    ):
        divergence = {"vs_cpu": {"bitwise_equal": False, "max_abs": 4.1e-4, "max_ulp": 5210}}
        causes, _ = record_causes(
            workload="predict",
            mode="eager",
            precision=precision,
            verdict="close",
            divergence=divergence,
            localisation=None,
            numerics=numerics,
            findings=None,
            random=[],
        )
        lines.append(
            f"{label} (engine on a GPU record's numbers): close: {lead('vs_cpu max_abs 4.1e-04 ...', causes)}"
        )
    return lines


def main() -> int:
    import suite

    wanted = set(sys.argv[1:])
    for title, members, (x, y), modes, workloads, shown in _entries():
        if wanted and title not in wanted:
            continue
        frame = suite.check_models(
            members,
            x=x,
            y=y,
            modes=modes,
            workloads=workloads or ("predict", "train_step"),
            repeats=3,
            reference_fp64=False,
            name=title.split(" ")[0].replace("-", "_"),
        )
        print(f"### {title}\n\n```")
        for row in frame.to_dict("records"):
            if row["member"] not in shown or (len(modes) > 1 and row["mode"] == "eager"):
                continue
            head = f"{row['member']}.{row['workload']}.{row['mode']}: {row['verdict']}"
            print(textwrap.fill(f"{head}: {row['reason']}", 110, subsequent_indent="    "))
            for note in row.get("notes") or []:
                print(textwrap.fill(f"note: {note}", 110, initial_indent="    ", subsequent_indent="      "))
        print("```\n")
    if wanted and "tf32 / device" not in wanted:
        return 0
    print("### tf32 / device\n\n```")
    for line in _gpu_entry():
        print(textwrap.fill(line, 110, subsequent_indent="    "))
    print("```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
