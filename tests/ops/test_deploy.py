"""``deploy/``: the Kubernetes and KubeRay manifests, checked without a cluster (issue 18, point 5).

Every file parses as YAML and has the fields its kind needs; every container runs the image
``Dockerfile.gpu`` builds, as its user, with the shared results volume at the image's
``/results``; every ``pairbench`` command line in them parses with the real CLI and means
what the docs say (the RayJob runs on Ray, each nightly has its own machine name and results
folder, the fleet job reads exactly those, the shard job covers every shard once).
"""

from __future__ import annotations

import io
import re
import shlex
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from suite.cli import build_parser

yaml = pytest.importorskip("yaml", reason="PyYAML is not installed (the test extra has it)")

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
IMAGE_NAME = "pairbench-gpu"  # docker build -f Dockerfile.gpu -t pairbench-gpu .
CLAIM = "pairbench-results"


def _docs(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]


def _all_docs() -> list[dict]:
    return [d for path in sorted(DEPLOY.rglob("*.yaml")) for d in _docs(str(path.relative_to(DEPLOY)))]


def _pod_specs(doc: dict) -> list[dict]:
    spec = doc["spec"]
    if doc["kind"] == "RayCluster":
        return [spec["headGroupSpec"]["template"]["spec"]] + [
            g["template"]["spec"] for g in spec["workerGroupSpecs"]
        ]
    if doc["kind"] == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    if doc["kind"] == "Job":
        return [spec["template"]["spec"]]
    return []


@pytest.fixture(scope="module")
def dockerfile() -> DockerfileParser:
    return DockerfileParser(fileobj=io.BytesIO((ROOT / "Dockerfile.gpu").read_bytes()))


def _parse(argv: list[str]):
    assert argv[0] == "pairbench", argv
    return build_parser().parse_args(argv[1:])


def test_every_manifest_parses_with_the_fields_of_its_kind():
    kinds = {}
    for doc in _all_docs():
        assert doc.get("apiVersion") and doc.get("kind") and doc.get("metadata", {}).get("name"), doc
        kinds.setdefault(doc["kind"], []).append(doc)
    assert set(kinds) == {"PersistentVolumeClaim", "RayCluster", "RayJob", "CronJob", "Job"}
    assert all(d["apiVersion"] == "ray.io/v1" for d in kinds["RayCluster"] + kinds["RayJob"])
    assert all(d["apiVersion"] == "batch/v1" for d in kinds["CronJob"] + kinds["Job"])
    for cron in kinds["CronJob"]:
        assert len(cron["spec"]["schedule"].split()) == 5 and cron["spec"]["concurrencyPolicy"] == "Forbid"
        assert cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    (pvc,) = kinds["PersistentVolumeClaim"]
    assert pvc["metadata"]["name"] == CLAIM and pvc["spec"]["accessModes"] == ["ReadWriteMany"]


def test_every_pod_runs_the_image_as_its_user_with_results_on_the_shared_volume(dockerfile):
    uid = dockerfile.args["PAIRBENCH_UID"]
    results = dockerfile.envs["PAIRBENCH_RESULTS"]
    assert "ray" in dockerfile.args["PAIRBENCH_EXTRAS"].split(",")  # the RayCluster runs `ray start` from it
    pods = [spec for doc in _all_docs() for spec in _pod_specs(doc)]
    assert len(pods) >= 8
    for spec in pods:
        assert (
            str(spec["securityContext"]["runAsUser"]) == uid
            and str(spec["securityContext"]["fsGroup"]) == uid
        )
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in spec["containers"]:
            image = container["image"]
            assert image.rsplit("/", 1)[-1].split(":")[0] == IMAGE_NAME, image
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert volumes[mounts[results]]["persistentVolumeClaim"]["claimName"] == CLAIM


def test_ray_cluster_has_a_worker_group_per_gpu_type_and_a_head_that_runs_no_task():
    (cluster,) = _docs("kuberay/raycluster.yaml")
    assert cluster["spec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    gpu_types = []
    for group in cluster["spec"]["workerGroupSpecs"]:
        pod = group["template"]["spec"]
        limits = pod["containers"][0]["resources"]["limits"]
        gpus = int(limits.get("nvidia.com/gpu", 0))
        assert int(group["rayStartParams"]["num-gpus"]) == gpus
        if gpus:
            gpu_types.append(pod["nodeSelector"]["nvidia.com/gpu.product"])
            assert group["groupName"] in pod["nodeSelector"]["nvidia.com/gpu.product"].lower()
    assert len(gpu_types) == len(set(gpu_types)) >= 2
    cpus = [
        int(g["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"])
        for g in cluster["spec"]["workerGroupSpecs"]
    ]
    cpu_group = next(g for g in cluster["spec"]["workerGroupSpecs"] if g["groupName"] == "cpu")
    assert int(cpu_group["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"]) == max(cpus)


def test_ray_job_runs_pairbench_on_the_cluster_with_one_gpu_type():
    (job,) = _docs("kuberay/rayjob.yaml")
    (cluster,) = _docs("kuberay/raycluster.yaml")
    assert job["spec"]["clusterSelector"]["ray.io/cluster"] == cluster["metadata"]["name"]
    args = _parse(shlex.split(job["spec"]["entrypoint"]))
    assert args.command == "run" and args.executor == "ray" and args.gpu_type in ("H100", "A100")
    assert str(args.results_dir).startswith("/results/") and args.address is None  # KubeRay sets RAY_ADDRESS


def test_nightly_cronjobs_use_the_image_entrypoint_one_machine_each_and_the_fleet_reads_them():
    crons = _docs("kubernetes/nightly-cronjobs.yaml")
    nightlies, fleets = [], []
    for cron in crons:
        (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        (nightlies if container["name"] == "nightly" else fleets).append(container)
    seen_machines, seen_dirs = set(), set()
    for container in nightlies:
        assert "command" not in container  # the image's entrypoint: tini + pairbench nightly
        env = {e["name"]: e["value"] for e in container["env"]}
        args = _parse(
            [
                "pairbench",
                "nightly",
                "--results-dir",
                env["PAIRBENCH_RESULTS"],
                "--machine",
                env["PAIRBENCH_MACHINE"],
                *container.get("args", []),
            ]
        )
        assert args.command == "nightly" and str(args.results_dir).startswith("/results/")
        assert int(container["resources"]["limits"]["nvidia.com/gpu"]) >= 1
        seen_machines.add(args.machine)
        seen_dirs.add(str(args.results_dir))
    assert len(seen_machines) == len(seen_dirs) == len(nightlies) >= 2
    (fleet,) = fleets
    args = _parse(["pairbench", *fleet["args"]])
    assert args.command == "fleet" and set(args.sources) == seen_dirs
    assert (
        str(args.project_dir) == "/opt/pairbench"
    )  # WORKDIR of Dockerfile.gpu: the checkout with asv.conf.json


def test_shard_job_runs_every_shard_once_and_resumes_a_retried_pod(dockerfile):
    (job,) = _docs("kubernetes/shards-job.yaml")
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    n = int(spec["completions"])
    (container,) = spec["template"]["spec"]["containers"]
    assert container["command"][:2] == ["/usr/bin/tini", "--"]  # the image's init, as in ENTRYPOINT
    script = container["args"][0]
    runs = re.findall(r"exec (pairbench run [^;]*)", script)
    assert len(runs) == 2
    shards = set()
    for index in range(n):
        k = index + 1
        fresh = _parse(shlex.split(runs[1].replace("$k", str(k))))
        resumed = _parse(shlex.split(runs[0].replace("$k", str(k))))
        assert fresh.shard == f"{k}/{n}" and fresh.run_id == f"shard-{k}" and resumed.resume == f"shard-{k}"
        assert fresh.results_dir == resumed.results_dir
        shards.add(fresh.shard)
    assert len(shards) == n
    assert "$((JOB_COMPLETION_INDEX + 1))" in script
