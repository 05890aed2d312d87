"""The Grafana dashboard against the real processes.

aiapi, the gateway and the inference service run as `./dev up` starts them
(the commands, environment and gateway configuration of deploy/mesh.yaml),
on free loopback ports, aiapi calling the inference service through the
gateway. After real calls —
answered, rejected, failed — every /metrics endpoint is scraped, and every metric and label that
the dashboard's PromQL names must be among what they expose; promtool checks
that every expression parses. (tests/compose checks deploy/prometheus/ and
Grafana's provisioning against compose.yaml.)
"""

from __future__ import annotations

import concurrent.futures
import shutil
import subprocess
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import yaml
from inference import grpc_service_pb2 as infer_pb2
from inference import grpc_service_pb2_grpc as infer_pb2_grpc
from polymesh.ai.v1 import ai_pb2, ai_pb2_grpc
from polymesh_client.ai import rows_request, tensor
from polymesh_mesh.config import write_files
from polymesh_mesh.model import ROOT
from polymesh_mesh.testing import Process
from prometheus_client.parser import text_string_to_metric_families
from sklearn.datasets import load_digits, load_iris

from . import dashboard as dash
from .conftest import API_KEY, API_KEYS, require, resolve_mesh, with_keys

DASHBOARD = ROOT / "deploy/grafana/dashboards/polymesh.json"
DATASOURCES = ROOT / "deploy/grafana/provisioning/datasources"
PROMETHEUS_CONFIG = ROOT / "deploy/prometheus/prometheus.yml"

# Series that Prometheus itself writes for every scrape target, and the labels
# it adds to every scraped series.
SCRAPE_SERIES = {
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
}
TARGET_LABELS = {"job", "instance"}


def promtool_binary() -> str:
    found = shutil.which("promtool") or next(
        iter(sorted(Path.home().glob(".cache/polymesh/promtool-*/bin/promtool"))), None
    )
    if not found:
        pytest.fail("no promtool binary: run ./dev setup")
    return str(found)


def scrape(url: str) -> dict[str, set[str]]:
    """The sample names of a /metrics page, each with the label names it has."""
    with urllib.request.urlopen(url, timeout=10) as answer:
        text = answer.read().decode()
    exposed: dict[str, set[str]] = defaultdict(set)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            exposed[sample.name] |= set(sample.labels)
    return dict(exposed)


@pytest.fixture(scope="module")
def exposed(tmp_path_factory) -> Iterator[dict[str, dict[str, set[str]]]]:
    """What each job of the Prometheus config exposes after real calls:
    job -> sample name -> label names."""
    logs = tmp_path_factory.mktemp("dashboard")
    resolved = resolve_mesh(logs)
    keys = logs / "api-keys.yaml"
    keys.write_text(API_KEYS)
    # On top of the mesh file: the gateway without tracing, the tests' keys
    # (for the gateway and aiapi). No collector runs here: spans are not
    # exported.
    write_files(
        resolved,
        [resolved.process("gateway")],
        with_keys({**resolved.gateway, "tracing": {"disabled": True}}, keys),
    )
    quiet = {"OTEL_TRACES_EXPORTER": "none", "OTEL_SDK_DISABLED": "true"}
    overrides = {"aiapi": {"POLYMESH_API_KEYS_FILE": str(keys)}}
    processes: list[Process] = []
    try:
        for spec in resolved.only(("inference", "gateway", "aiapi")):
            require(Path(spec.argv[0]))
            spec = spec.with_env(overrides.get(spec.name, {})).with_env(quiet, only_known=False)
            process = Process.start(spec, logs)
            processes.append(process)
            process.wait_until()

        def url(name: str, variable: str) -> str:
            return f"http://{resolved.host}:{resolved.process(name).port(variable)}/metrics"

        gateway, inference = resolved.process("gateway"), resolved.process("inference")
        make_calls(gateway.health_target, inference.health_target)
        yield {
            "aiapi": scrape(url("aiapi", "POLYMESH_AIAPI_METRICS_PORT")),
            "inference": scrape(url("inference", "POLYMESH_INFERENCE_METRICS_PORT")),
            "gateway": scrape(url("gateway", "POLYMESH_GATEWAY_ADMIN_PORT")),
        }
    finally:
        codes = {p.name: p.stop() for p in reversed(processes)}
    assert all(code == 0 for code in codes.values()), f"exit codes on SIGTERM: {codes}"


def make_calls(gateway: str, inference: str) -> None:
    """Through the gateway: predictions answered (concurrent ones, to make
    batches), rejected for a missing key (by the gateway) and an exhausted
    quota (by aiapi); and failed in the inference tier."""
    iris, digits = load_iris(), load_digits()
    with grpc.insecure_channel(gateway) as channel:
        ai = ai_pb2_grpc.AIServiceStub(channel)
        key = [("x-api-key", API_KEY)]

        def predict(i: int):
            return ai.Predict(
                rows_request("iris", [iris.data[i].tolist()]), metadata=key, timeout=10
            )

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            assert len(list(pool.map(predict, range(0, 150, 10)))) == 15
        x = digits.data[:2].astype("float32")
        ai.Predict(
            ai_pb2.PredictRequest(
                model="digits", inputs=[tensor("input", "FP32", x.shape, x.ravel())]
            ),
            metadata=key,
            timeout=10,
        )
        failures = [
            (rows_request("no-such-model", [[1.0]]), key, grpc.StatusCode.NOT_FOUND),
            (rows_request("iris", [[1.0]]), [], grpc.StatusCode.UNAUTHENTICATED),
        ]
        limited = [("x-api-key", "polymesh-e2e-limited-key")]
        ai.Predict(rows_request("iris", [iris.data[0].tolist()]), metadata=limited, timeout=10)
        failures.append(
            (rows_request("iris", [[1.0]]), limited, grpc.StatusCode.RESOURCE_EXHAUSTED)
        )
        for request, metadata, code in failures:
            with pytest.raises(grpc.RpcError) as raised:
                ai.Predict(request, metadata=metadata, timeout=10)
            assert raised.value.code() == code
    # aiapi checks requests against the model's metadata, so the inference
    # tier's own errors come from a call made to it directly.
    with grpc.insecure_channel(inference) as channel:
        stub = infer_pb2_grpc.GRPCInferenceServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.ModelInfer(infer_pb2.ModelInferRequest(model_name="no-such-model"), timeout=10)
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def scrape_jobs() -> dict[str, list[str]]:
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    return {
        job["job_name"]: [t for sc in job.get("static_configs", []) for t in sc["targets"]]
        for job in config["scrape_configs"]
    }


def test_every_metric_and_label_of_the_dashboard_is_exposed(exposed):
    board = dash.load(DASHBOARD)
    jobs = scrape_jobs()
    assert set(exposed) <= set(jobs), f"jobs {sorted(exposed)} not all in {PROMETHEUS_CONFIG}"
    by_metric: dict[str, set[str]] = {}
    owner: dict[str, str] = {}
    for job, samples in exposed.items():
        for name, labels in samples.items():
            by_metric.setdefault(name, set()).update(labels)
            owner.setdefault(name, job)
    for name in SCRAPE_SERIES:
        by_metric[name] = set()

    problems = []
    used_by_job: dict[str, set[str]] = defaultdict(set)
    queries = dash.queries(board)
    assert len(queries) >= 20, "the dashboard lost its queries"
    for q in queries:
        parsed = dash.parse(q.expr)
        if not parsed.selectors:
            problems.append(f"{q.where}: reads no metric: {q.expr}")
        labels_here: set[str] = set()
        for sel in parsed.selectors:
            if sel.metric not in by_metric:
                problems.append(f"{q.where}: {sel.metric} is not exposed by {sorted(exposed)}")
                continue
            used_by_job[owner.get(sel.metric, "prometheus")].add(sel.metric)
            labels_here |= by_metric[sel.metric]
            for label, _op, value in sel.matchers:
                if label not in by_metric[sel.metric] | TARGET_LABELS:
                    problems.append(f"{q.where}: {sel.metric} has no label {label}")
                if label == "job" and value not in jobs:
                    problems.append(f"{q.where}: job {value!r} is not in {PROMETHEUS_CONFIG.name}")
        for label in parsed.grouping - labels_here - TARGET_LABELS:
            problems.append(f"{q.where}: groups by {label}, which none of its metrics has")
    for name, (metric, label) in dash.variables(board).items():
        if label not in by_metric.get(metric, set()):
            problems.append(f"variable {name}: {metric} has no label {label} (or is not exposed)")
    assert not problems, "\n".join(problems)
    # Every process is on the dashboard.
    assert used_by_job["aiapi"] and used_by_job["inference"], dict(used_by_job)
    assert used_by_job["gateway"], dict(used_by_job)


def test_the_dashboard_queries_provisioned_data_sources():
    provisioned = {}
    for path in sorted(DATASOURCES.glob("*.yaml")):
        for source in yaml.safe_load(path.read_text())["datasources"]:
            provisioned[source["uid"]] = source["type"]
    board = dash.load(DASHBOARD)
    assert {"prometheus", "jaeger"} <= set(provisioned.values())
    for panel in dash.panels(board):
        refs = [panel.get("datasource")] + [t.get("datasource") for t in panel.get("targets", [])]
        for ref in filter(None, refs):
            uid = dash.datasource_uid(ref)
            assert uid in provisioned, f"panel {panel.get('title')!r}: data source {uid!r}"
            assert ref.get("type") == provisioned[uid], f"panel {panel.get('title')!r}: {ref}"
    for q in dash.queries(board):
        assert provisioned[q.datasource] == "prometheus", q.where
    assert board["uid"] and board["title"]
    ids = [p["id"] for p in dash.panels(board)]
    assert len(ids) == len(set(ids)), "panel ids repeat"


def test_promtool_parses_every_expression(tmp_path):
    board = dash.load(DASHBOARD)
    values = {name: ".*" for name in dash.variables(board)}
    rules = [
        {"record": f"dashboard:query_{i}", "expr": dash.for_promtool(q.expr, values)}
        for i, q in enumerate(dash.queries(board))
    ]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    check = subprocess.run(
        [promtool_binary(), "check", "rules", str(path)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"SUCCESS: {len(rules)} rules found" in check.stdout + check.stderr


@pytest.mark.parametrize(
    ("expr", "metrics", "grouping", "functions"),
    [
        ("up", {"up"}, set(), set()),
        ('min by (job) (up{job="gateway"})', {"up"}, {"job"}, {"min"}),
        (
            'histogram_quantile(0.99, sum by (le, model) (rate(a_bucket{model=~"$model"}'
            "[$__rate_interval])))",
            {"a_bucket"},
            {"le", "model"},
            {"histogram_quantile", "sum", "rate"},
        ),
        (
            'sum(rate(x_total{code!="OK", s="a}b,c"}[5m] offset 1h30m)) / sum without (i) (y)',
            {"x_total", "y"},
            {"i"},
            {"sum", "rate"},
        ),
        ("(a or b * 0) / on (m) group_left c > bool 1e3", {"a", "b", "c"}, {"m"}, set()),
    ],
)
def test_parse_reads_metrics_labels_and_functions(expr, metrics, grouping, functions):
    parsed = dash.parse(expr)
    assert parsed.metrics == metrics
    assert parsed.grouping == grouping
    assert parsed.functions == functions


def test_parse_reads_matchers():
    (sel,) = dash.parse('rate(m{a="x", b=~"y|z", c!~"$v"}[1m])').selectors
    assert sel == dash.Selector("m", (("a", "=", "x"), ("b", "=~", "y|z"), ("c", "!~", "$v")))


@pytest.mark.parametrize("expr", ['{__name__="up"}', "sum by (a (b)", "sum by x"])
def test_parse_rejects_what_it_cannot_check(expr):
    with pytest.raises(ValueError):
        dash.parse(expr)
