"""The web UI in a real headless Chromium: repositories, a user's flists, an flist's contents
and metadata, and an upload through the form with its progress events."""

from __future__ import annotations

import io
import random
import shutil
import tarfile
import uuid
from pathlib import Path
from collections.abc import Iterator

import pytest

from .conftest import RunningHub

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="chromium and chromedriver are not installed (Debian chromium, chromium-driver)")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


def _archive(path: Path) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        rng = random.Random(45)
        for i in range(50):
            data = rng.randbytes(20_000)
            info = tarfile.TarInfo(f"dir/file{i}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        readme = b"# UI readme\n"
        info = tarfile.TarInfo(".README.md")
        info.size = len(readme)
        tar.addfile(info, io.BytesIO(readme))
    return path


def test_upload_and_browse(hub: RunningHub, browser, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    name = f"ui-{uuid.uuid4().hex[:8]}"
    archive = _archive(tmp_path / f"{name}.tar.gz")
    browser.get(f"{hub.url}/ui/upload")
    browser.find_element(By.ID, "token").send_keys("alice-token")
    browser.find_element(By.ID, "file").send_keys(str(archive))
    browser.find_element(By.ID, "send").click()
    done = WebDriverWait(browser, 120).until(ec.presence_of_element_located((By.ID, "done")))
    assert done.text.startswith(f"alice/{name}.flist: 51 files")
    assert float(browser.find_element(By.ID, "sent").get_attribute("value")) == 100.0

    browser.get(f"{hub.url}/ui/")
    repos = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "a.repo")]
    assert "alice" in repos
    browser.find_element(By.LINK_TEXT, "alice").click()
    browser.find_element(By.LINK_TEXT, f"{name}.flist").click()
    assert "/dir/file49" in browser.find_element(By.ID, "contents").text
    assert "UI readme" in browser.find_element(By.ID, "metadata").text
    assert "regular: 51" in browser.find_element(By.ID, "summary").text


def test_upload_error_is_shown(hub: RunningHub, browser, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"\x1f\x8b not really gzip")
    browser.get(f"{hub.url}/ui/upload")
    browser.find_element(By.ID, "token").send_keys("wrong-token")
    browser.find_element(By.ID, "file").send_keys(str(bad))
    browser.find_element(By.ID, "send").click()
    WebDriverWait(browser, 60).until(lambda d: d.find_element(By.ID, "result").text)
    assert browser.find_element(By.ID, "result").text.startswith("error 401")
