"""API contract: responses, error codes, limits, key, and robustness to bad files."""

import base64

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from files import dicom, encode, gradient, png_with_header

from conftest import SAMPLES
from lunggate.api.app import ApiConfig, create_app
from lunggate.core import CLASS_NAMES
from lunggate.core.errors import LunggateError


@pytest.fixture(scope="module")
def client(tiny_pipeline):
    with TestClient(create_app(ApiConfig(max_upload_bytes=2_000_000), tiny_pipeline)) as c:
        yield c


def post(client, data: bytes, name: str = "x.png", headers=None, **params):
    return client.post("/v1/predict", files={"file": (name, data)}, params=params, headers=headers)


def sample_bytes(k: int = 0) -> bytes:
    return SAMPLES[k].read_bytes()


def test_health_and_docs(client):
    assert client.get("/v1/health").json() == {
        "status": "ok",
        "models_loaded": True,
        "version": "0.1.0",
    }
    assert client.get("/docs").status_code == 200
    assert "/v1/predict" in client.get("/openapi.json").json()["paths"]


def test_viewer_page_is_served(client):
    response = client.get("/")
    assert response.status_code == 200 and "lunggate" in response.text


def test_predict_returns_the_result_contract(client):
    response = post(client, sample_bytes())
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["label"] in CLASS_NAMES
    assert list(body["probabilities"]) == list(CLASS_NAMES)
    assert sum(body["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert body["lung"]["ok"] and body["lung"]["components"] == 2
    att = body["attention"]
    # The API's body is the pipeline's result, field for field.
    image = cv2.imdecode(np.frombuffer(sample_bytes(), np.uint8), cv2.IMREAD_GRAYSCALE)
    result = client.app.state.pipeline.analyze(image).to_dict()
    assert att == result["attention"] and body["lung"] == result["lung"]
    assert att["lung_area_fraction"] == body["lung"]["area_fraction"] == att["threshold"]
    assert body["models"]["masked"] is True
    assert {"segmentation", "classification_gradcam"} <= body["timings_ms"].keys()
    assert (
        body["mark_removal"]["enabled"] is True
        and 0 <= body["mark_removal"]["removed_fraction"] < 1
    )
    assert isinstance(body["mark_removal"]["segmented_twice"], bool)
    assert body["image"] == {"width": 256, "height": 256, "format": "PNG", "mode": "L", "bits": 8}
    assert body["overlays"] is None


def test_predict_with_overlays_returns_pngs(client):
    body = post(client, sample_bytes(), overlays="true").json()
    for key in ("lungs", "gradcam"):
        png = np.frombuffer(base64.b64decode(body["overlays"][key]), np.uint8)
        assert cv2.imdecode(png, cv2.IMREAD_COLOR).shape == (256, 256, 3)
    assert body["overlays"]["guided_gradcam"] is None  # only on request


def test_guided_gradcam_on_request(client):
    body = post(client, sample_bytes(), guided="true").json()
    png = np.frombuffer(base64.b64decode(body["overlays"]["guided_gradcam"]), np.uint8)
    assert cv2.imdecode(png, cv2.IMREAD_COLOR).shape == (256, 256, 3)
    assert body["timings_ms"]["guided_gradcam"] > 0


def test_dicom_upload_is_analysed_without_leaking_patient_data(client):
    xray = cv2.imread(str(SAMPLES[0]), cv2.IMREAD_GRAYSCALE).astype(np.uint16) * 16
    response = post(client, dicom(xray), "study.dcm")
    assert response.status_code == 200
    assert "Doe" not in response.text and "SECRET" not in response.text


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"just text", 415, "not_an_image"),
        (b"", 422, "unreadable_image"),
        (encode(".png", gradient())[:150], 422, "unreadable_image"),
        (png_with_header(60000, 60000), 422, "implausible_image"),
        (encode(".png", np.full((256, 256), 128, np.uint8)), 422, "no_lungs"),
    ],
    ids=["text", "empty", "truncated", "bomb", "blank"],
)
def test_bad_uploads_get_json_errors(client, data, status, code):
    response = post(client, data)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]


def test_upload_over_the_limit_is_413(client):
    response = post(client, b"\0" * 2_100_000)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "upload_too_large"


def test_missing_file_field_is_422(client):
    response = client.post("/v1/predict")
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_request"


def test_batch_reports_each_file(client):
    files = [
        ("files", ("a.png", sample_bytes(0))),
        ("files", ("b.txt", b"text")),
        ("files", ("c.png", sample_bytes(1))),
    ]
    items = client.post("/v1/predict/batch", files=files).json()["items"]
    assert [i["filename"] for i in items] == ["a.png", "b.txt", "c.png"]
    assert items[0]["result"]["status"] == "ok" and items[1]["error"]["code"] == "not_an_image"


def test_batch_size_is_limited(client):
    files = [("files", (f"{k}.png", b"x")) for k in range(17)]
    response = client.post("/v1/predict/batch", files=files)
    assert response.status_code == 422 and response.json()["error"]["code"] == "batch_too_large"


def test_model_card(client):
    card = client.get("/v1/models").json()
    assert card["classes"] == list(CLASS_NAMES)
    assert "not for diagnosis" in card["intended_use"]
    assert card["models"]["segmenter"]["sha256"]


def test_config_from_environment(monkeypatch):
    monkeypatch.setenv("LUNGGATE_API_KEY", "k")
    monkeypatch.setenv("LUNGGATE_ATTENTION_THRESHOLD", "0.4")
    config = ApiConfig.from_env()
    assert config.api_key == "k" and config.pipeline.attention_threshold == 0.4
    monkeypatch.setenv("LUNGGATE_ATTENTION_THRESHOLD", "half")
    with pytest.raises(LunggateError, match="LUNGGATE_ATTENTION_THRESHOLD must be a number"):
        ApiConfig.from_env()


def test_api_key_is_enforced_when_set(tiny_pipeline):
    with TestClient(create_app(ApiConfig(api_key="s3cret"), tiny_pipeline)) as c:
        assert post(c, sample_bytes()).status_code == 401
        ok = c.post(
            "/v1/predict",
            files={"file": ("x.png", sample_bytes())},
            headers={"X-API-Key": "s3cret"},
        )
        assert ok.status_code == 200
        assert c.get("/v1/health").status_code == 200  # health stays open for probes
        assert c.get("/").status_code == 200  # the viewer page, which asks for the key
        for path in ("/docs", "/openapi.json", "/v1/models"):
            refused = c.get(path)
            assert refused.status_code == 401, path
            assert refused.json()["error"]["code"] == "unauthorized"
        assert c.get("/openapi.json", headers={"X-API-Key": "s3cret"}).status_code == 200
        assert post(c, sample_bytes(), headers={"X-API-Key": "s3cre"}).status_code == 401


def test_wrong_key_is_refused_before_the_body_is_read(tiny_pipeline):
    from lunggate.api.access import RequireKey

    reads = []

    async def receive():
        reads.append(1)
        return {"type": "http.request", "body": b"x" * 10, "more_body": False}

    sent = []

    async def send(message):
        sent.append(message)

    async def app(scope, receive, send):  # what would read the body
        await receive()

    import asyncio

    scope = {"type": "http", "path": "/v1/predict", "headers": [(b"x-api-key", b"nope")]}
    asyncio.run(RequireKey(app, "s3cret")(scope, receive, send))
    assert reads == [] and sent[0]["status"] == 401


def malformed_files() -> list[tuple[str, bytes]]:
    """At least 25 distinct bad or awkward files."""
    png = encode(".png", gradient(256, 256))
    jpg = encode(".jpg", gradient(256, 256))
    dcm = dicom(gradient(256, 256, np.uint16) >> 4)
    xray = cv2.imread(str(SAMPLES[0]), cv2.IMREAD_GRAYSCALE)
    photo = np.dstack([np.random.default_rng(0).integers(0, 255, (300, 400), np.uint8)] * 3)
    return [
        ("zero.png", b""),
        ("text.png", b"hello world"),
        ("html.png", b"<html></html>"),
        ("png-truncated.png", png[:100]),
        ("png-half.png", png[: len(png) // 2]),
        ("jpeg-truncated.jpg", jpg[:200]),
        ("jpeg-half.jpg", jpg[: len(jpg) // 2]),
        ("png-sig-only.png", png[:8]),
        ("bomb.png", png_with_header(60000, 60000)),
        ("wide.png", png_with_header(100000, 10)),
        ("1x1.png", encode(".png", np.zeros((1, 1), np.uint8))),
        ("10x10.png", encode(".png", np.zeros((10, 10), np.uint8))),
        ("black.png", encode(".png", np.zeros((256, 256), np.uint8))),
        ("white.png", encode(".png", np.full((256, 256), 255, np.uint8))),
        ("noise-photo.jpg", encode(".jpg", photo)),
        ("xray16.png", encode(".png", xray.astype(np.uint16) * 257)),
        ("xray-rgba.png", encode(".png", cv2.cvtColor(xray, cv2.COLOR_GRAY2BGRA))),
        ("bmp.bmp", encode(".bmp", gradient())),
        ("tiff.tif", encode(".tiff", gradient())),
        ("gif.gif", b"GIF89a" + b"\0" * 50),
        ("dicom-no-pixels.dcm", dicom(None)),
        ("dicom-truncated.dcm", dcm[:-5000]),
        ("dicom-multiframe.dcm", dicom(gradient(64, 64, np.uint16), frames=2)),
        ("dicom-mono1.dcm", dicom(xray.astype(np.uint16) * 16, "MONOCHROME1")),
        ("dicom-garbage.dcm", b"\0" * 128 + b"DICM" + b"\xff" * 64),
        ("zip.png", b"PK\x03\x04" + b"\0" * 100),
        ("pdf.png", b"%PDF-1.4\n%%EOF"),
    ]


def test_malformed_suite_never_gets_a_500_and_server_keeps_serving(client):
    files = malformed_files()
    assert len(files) >= 25
    for name, data in files:
        response = post(client, data, name)
        assert response.status_code < 500, name
        if response.status_code != 200:
            assert 400 <= response.status_code < 500 and response.json()["error"]["code"], name
    assert post(client, sample_bytes()).status_code == 200


@pytest.mark.slow
def test_concurrent_clients_get_no_errors_and_memory_stays_bounded(client):
    from concurrent.futures import ThreadPoolExecutor

    def rss_mb() -> float:
        with open("/proc/self/status") as f:
            line = next(line for line in f if line.startswith("VmRSS"))
        return int(line.split()[1]) / 1024

    data = [sample_bytes(k % len(SAMPLES)) for k in range(8)]
    for d in data:  # warm-up: graphs traced, allocator pools filled
        assert post(client, d).status_code == 200
    before = rss_mb()
    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(lambda k: post(client, data[k % 8]).status_code, range(200)))
    assert codes == [200] * 200
    assert rss_mb() - before < 300, "memory grew by more than 300 MB over 200 requests"


def test_a_spent_time_budget_is_a_json_503_and_a_started_batch_finishes(tiny_pipeline):
    import threading
    import time

    # One analysis at a time; each batch takes longer than a request's whole budget.
    slow = ApiConfig(request_budget_s=0.3, concurrent_analyses=1)
    original = tiny_pipeline.analyze_batch

    def analyze_batch(*args, **kwargs):
        time.sleep(0.6)
        return original(*args, **kwargs)

    tiny_pipeline.analyze_batch = analyze_batch
    answers = {}
    try:
        with TestClient(create_app(slow, tiny_pipeline)) as c:
            files = [("files", (f"s{k}.png", sample_bytes(k))) for k in range(3)]
            first = threading.Thread(
                target=lambda: answers.update(batch=c.post("/v1/predict/batch", files=files))
            )
            first.start()
            time.sleep(0.1)  # the batch holds the only turn now
            waiting = post(c, sample_bytes())  # its budget runs out waiting for the turn
            first.join()
            tiny_pipeline.analyze_batch = original
            again = post(c, sample_bytes())
    finally:
        tiny_pipeline.analyze_batch = original
    # The batch started within its budget, so it finished, as one pass over its images.
    items = answers["batch"].json()["items"]
    assert [i["result"]["status"] for i in items] == ["ok"] * 3
    assert waiting.status_code == 503
    assert waiting.json()["error"]["code"] == "time_budget_exceeded"
    assert again.status_code == 200  # a new request has a budget of its own
