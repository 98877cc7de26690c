"""The web viewer driven in headless Chromium: upload, results, and a readable error."""

import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from conftest import SAMPLES
from lunggate.api.app import ApiConfig, create_app

CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMEDRIVER is None, reason="Debian's chromium-driver is not installed"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server_url(tiny_pipeline):
    port = free_port()
    config = uvicorn.Config(
        create_app(ApiConfig(), tiny_pipeline), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from lunggate.lab.bench import headless_chromium

    driver = headless_chromium(tmp_path_factory.mktemp("chrome"))
    yield driver
    driver.quit()


def upload(browser, url: str, path: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.get(url)
    browser.find_element(By.ID, "file").send_keys(str(path))


def test_viewer_shows_prediction_bars_and_attention(browser, server_url):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    upload(browser, server_url, SAMPLES[0])
    WebDriverWait(browser, 60).until(ec.visibility_of_element_located((By.ID, "label")))
    assert browser.find_element(By.ID, "label").text
    assert len(browser.find_elements(By.CSS_SELECTOR, "#bars .bar")) == 4
    assert "In-lung attention" in browser.find_element(By.ID, "attention").text
    assert browser.find_element(By.ID, "flag").text
    assert "familiarity" in browser.find_element(By.ID, "familiarity").text.lower()
    cam = browser.find_element(By.ID, "img-cam").get_attribute("src")
    assert cam.startswith("data:image/png;base64,")
    assert not browser.find_element(By.ID, "fig-guided").is_displayed()


def test_viewer_shows_guided_gradcam_when_asked(browser, server_url):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server_url)
    browser.find_element(By.ID, "guided").click()
    browser.find_element(By.ID, "file").send_keys(str(SAMPLES[1]))
    WebDriverWait(browser, 60).until(ec.visibility_of_element_located((By.ID, "fig-guided")))
    guided = browser.find_element(By.ID, "img-guided").get_attribute("src")
    assert guided.startswith("data:image/png;base64,")


def test_viewer_shows_a_readable_error_for_a_non_image(browser, server_url, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    bogus = tmp_path / "notes.png"
    bogus.write_text("this is not an X-ray")
    upload(browser, server_url, bogus)
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "error").text)
    assert "not a PNG, JPEG or DICOM" in browser.find_element(By.ID, "error").text


def synthetic_audit(n: int, out: Path) -> list:
    """``n`` labelled audit entries as the pipeline writes them, reported; no pictures."""
    from lunggate.audit.report import write_reports
    from lunggate.core import CLASS_NAMES
    from lunggate.lab.bench import synthetic_entries

    entries = list(synthetic_entries(n))
    out.mkdir(parents=True, exist_ok=True)
    write_reports(entries, out, CLASS_NAMES, labelled=True)
    return entries


def test_the_audit_report_opens_fast_at_10000_images_and_sorts_and_filters(browser, tmp_path):
    import cv2
    import numpy as np
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    entries = synthetic_audit(10_000, tmp_path / "audit")
    start = time.perf_counter()
    browser.get((tmp_path / "audit" / "report.html").as_uri())
    shown = browser.find_element(By.ID, "shown")
    opened = time.perf_counter() - start
    assert shown.text == "10000 of 10000 images"
    assert opened < 5, f"the report took {opened:.1f} s to open"
    assert browser.find_element(By.ID, "page").text == "page 1 of 200"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#results tbody tr")) == 50
    assert browser.find_elements(By.CSS_SELECTOR, "#confusion tr")  # labels were given

    def first_cell(column: int) -> str:
        return browser.find_element(
            By.CSS_SELECTOR, f"#results tbody tr:first-child td:nth-child({column})"
        ).text

    in_lung = [e.attention.in_lung for e in entries if e.attention]
    header = browser.find_element(By.XPATH, "//th[text()='in-lung']")
    header.click()
    assert float(first_cell(5)) == min(in_lung)
    header.click()
    assert float(first_cell(5)) == max(in_lung)

    flagged = sum(e.flagged for e in entries)
    Select(browser.find_element(By.ID, "outcome")).select_by_visible_text("flagged")
    assert shown.text == f"{flagged} of 10000 images"
    assert float(first_cell(5)) <= 0.25  # still sorted, highest first, among the flagged
    Select(browser.find_element(By.ID, "outcome")).select_by_visible_text("misclassified")
    missed = sum(1 for e in entries if e.label and e.label != e.truth)
    assert shown.text == f"{missed} of 10000 images"
    Select(browser.find_element(By.ID, "outcome")).select_by_visible_text("any outcome")
    browser.find_element(By.ID, "search").send_keys("study_00004")
    assert shown.text == "10 of 10000 images"
    browser.find_element(By.ID, "search").clear()
    browser.find_element(By.ID, "search").send_keys("x")  # no path has an x: an empty page
    assert shown.text == "0 of 10000 images"

    browser.set_window_size(1300, 1800)
    shot = cv2.imdecode(np.frombuffer(browser.get_screenshot_as_png(), np.uint8), cv2.IMREAD_COLOR)
    assert shot is not None and shot.shape[1] >= 1000
    assert len(np.unique(shot.reshape(-1, 3), axis=0)) > 50  # text, tables and figures drawn
    cv2.imwrite(str(tmp_path / "report.png"), shot)
