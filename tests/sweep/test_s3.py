"""s3:// inputs against a real S3 protocol peer on loopback (moto's server), read through fsspec's s3fs.

s3fs takes its endpoint and credentials from the standard AWS settings (here the environment, as an
operator would point it at MinIO or Ceph); the project passes no options of its own.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

ROWS = "BERNARD-MARTIN;Nathalie;18/06/1981\nPETIT-MARTIN;Sylvie;20/08/1983\ntel 06 12 34 56 78\n"


@pytest.fixture
def s3_endpoint(monkeypatch):
    """A loopback S3 server with a bucket ``drops``, and the AWS environment pointing at it."""
    import boto3
    import requests

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        for name, value in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
                            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "eu-west-3"}.items():
            monkeypatch.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            monkeypatch.delenv(name, raising=False)
        requests.post(f"{endpoint}/moto-api/reset", timeout=10)  # moto keeps its buckets per process
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket="drops", CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
        yield s3
    finally:
        server.stop()
        import fsspec

        fsspec.filesystem("s3").clear_instance_cache()  # the next test's server has another port


def test_s3_prefix_swept_and_a_missing_key_is_one_skipped_line(cli, db, sweep_canaries, s3_endpoint):
    s3_endpoint.put_object(Bucket="drops", Key="2026-12/a.csv", Body=ROWS.encode())
    s3_endpoint.put_object(Bucket="drops", Key="2026-12/sub/clean.txt", Body=b"nothing to see\n")
    result = cli("scan", "--json", "s3://drops/2026-12/", "s3://drops/2026-12/gone.csv")
    assert result.exit_code == 3, result.output  # partial: one input could not be read
    report = json.loads(result.stdout)
    assert {f["file"] for f in report["findings"]} == {"s3://drops/2026-12/a.csv"}
    assert sorted(f["canary_id"] for f in report["findings"]) == ["sw0000", "sw0001", "sw0003"]
    assert report["files"] == 2 and report["status"] == "partial"
    assert report["skipped"] == [{"file": "s3://drops/2026-12/gone.csv", "reason": "unreachable: not found"}]
    assert "ignoré / skipped: s3://drops/2026-12/gone.csv: unreachable: not found" in result.stderr.splitlines()


def test_an_s3_bucket_that_does_not_exist_is_skipped_and_the_rest_goes_on(db, sweep_canaries, s3_endpoint, tmp_path):
    from canary.watch.sweep.index import build_index
    from canary.watch.sweep.limits import Limits
    from canary.watch.sweep.scanner import scan

    (tmp_path / "a.csv").write_text(ROWS, encoding="utf-8")
    report = scan(build_index(db), ["s3://no-such-bucket/x.csv", str(tmp_path / "a.csv")], Limits())
    assert {f.file for f in report.findings} == {str(tmp_path / "a.csv")}
    assert [s["file"] for s in report.skipped] == ["s3://no-such-bucket/x.csv"]
    assert report.skipped[0]["reason"].startswith("unreachable") and "\n" not in report.skipped[0]["reason"]
