"""The HTML reports in a real browser: headless Chromium loads them from disk, offline.

Each page must load every chart image (``naturalWidth > 0``), log no console error, and
show the verdict. A full-page screenshot is saved under the test's ``tmp_path`` for a
person to look at. Chromium and its driver are Debian packages (``chromium``,
``chromium-driver``); the test fails, never skips, when they are missing.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reports.compare import write_comparison
from reports.html import write_report
from reports.testing import live_shaped_run
from scenarios.loader import load_scenario
from simulator import simulate

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--window-size=1200,900",
]
INSTALL_HINT = "install it with `apt-get install -y chromium chromium-driver`"


def _require_browser() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if shutil.which(p) is None]
    if missing:
        pytest.fail(
            f"headless browser test needs {', '.join(missing)}: {INSTALL_HINT}", pytrace=False
        )
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.fail(
            "headless browser test needs the selenium package: `pip install selenium` (dev extra)",
            pytrace=False,
        )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module, with a fresh profile and console logging."""
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="routelab-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # an explicit driver path: selenium must not try to download a driver or a browser
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    scenario = load_scenario("acquirer_outage")
    out = tmp_path_factory.mktemp("runs")
    for policy in ("priority", "sr_window"):
        simulate(scenario, policy, replications=2).write(out / policy)
    simulate(scenario, "sr_window", seed=8, replications=1).write(out / "single")
    live_shaped_run(out / "single", out / "live", time_scale=30.0)
    dirs = [out / "priority", out / "sr_window", out / "live"]
    return {
        "run": write_report(out / "sr_window"),
        "live": write_report(out / "live"),
        "comparison": write_comparison(dirs, out / "comparison.html"),
    }


def _open(driver: Any, page: Path, screenshot: Path) -> dict[str, Any]:
    """Load ``page``, wait for its images, save a full-page screenshot, return what it saw."""
    driver.get_log("browser")  # drop anything logged before this page
    driver.get(page.as_uri())
    driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        Promise.all(Array.from(document.images).map(img => img.decode().catch(() => null)))
            .then(() => done(true));
    """)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1200, height)
    driver.save_screenshot(str(screenshot))
    driver.set_window_size(1200, 900)
    seen: dict[str, Any] = driver.execute_script("""
        return {
            title: document.title,
            verdict: (document.querySelector('.verdict') || {}).innerText || '',
            images: Array.from(document.images).map(img => ({
                alt: img.alt, complete: img.complete, width: img.naturalWidth,
                shown: img.getBoundingClientRect().width})),
            external: Array.from(document.querySelectorAll('[src],[href]'))
                .map(e => e.getAttribute('src') || e.getAttribute('href'))
                .filter(u => !u.startsWith('data:')),
        };
    """)
    seen["console"] = driver.get_log("browser")
    return seen


@pytest.mark.parametrize("page", ["run", "live", "comparison"])
def test_report_renders_in_chromium(
    browser: Any, reports: dict[str, Path], page: str, tmp_path: Path
) -> None:
    screenshot = tmp_path / f"{page}.png"
    seen = _open(browser, reports[page], screenshot)
    assert "routelab" in seen["title"]
    assert len(seen["images"]) == 6
    for image in seen["images"]:
        assert image["complete"] and image["width"] > 0, f"image did not load: {image['alt']}"
        assert image["shown"] > 300, f"image too small on the page: {image['alt']}"
    assert seen["external"] == [], "the report must not reference anything outside itself"
    errors = [entry for entry in seen["console"] if entry.get("level") == "SEVERE"]
    assert errors == [], f"console errors: {errors}"
    assert "authorisation rate" in seen["verdict"]
    assert screenshot.stat().st_size > 50_000  # a real page, not a blank one
    if page == "comparison":
        assert "Simulator vs live" in seen["verdict"]
