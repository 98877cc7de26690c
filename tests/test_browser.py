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
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path_factory.mktemp('chrome')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
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
