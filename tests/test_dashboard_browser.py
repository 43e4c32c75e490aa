"""The feature browser in headless Chromium, on a real tiny run (random:clip -> capture -> SAE -> the real
`name`, `audit` and `artifacts` commands).

Drives: the list, a name search, a feature page and its images, a sample, the audit and a class,
the artifacts view, and a steering-strength change; saves one screenshot per view under the test's
tmp dir and runs/screenshots/. Also checks path traversal over raw HTTP (no client-side URL clean-up).
"""
from __future__ import annotations

import http.client
import shutil
import tempfile
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
SHOTS = REPO / "runs" / "screenshots"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(base_url, browser-context, pipeline): the app on 127.0.0.1:<free port> in a werkzeug thread."""
    from werkzeug.serving import make_server

    from dashboard_fixtures import real_outputs
    from dashboards.app import create_app
    from dashboards.inputs import load_inputs
    from saekit.results import ArtifactsDocument, AuditDocument, NamesDocument

    real = real_outputs(tmp_path_factory.mktemp("browser"))
    names = NamesDocument.load(real.names_dir)
    star = max(names.latents, key=lambda e: e.score)
    audit = AuditDocument.load(real.audit_dir)
    docs = {"star": star, "audit": audit, "artifacts": ArtifactsDocument.load(real.artifacts_dir)}
    # the model is not passed: the dashboard takes it from the store's metadata, loaded on first use
    inputs = load_inputs(real.sae_dir, real.store_path, names_dir=real.names_dir, audit_dir=real.audit_dir,
                         artifacts_dir=real.artifacts_dir, progress=False)
    app = create_app(inputs)
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", docs, server.server_port
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert CHROMIUM and CHROMEDRIVER, "install Debian's chromium and chromium-driver (make browser)"
    profile = tempfile.mkdtemp(prefix="saekit-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={profile}", "--window-size=1360,1000", "--hide-scrollbars"):
        opts.add_argument(arg)
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    d.set_page_load_timeout(30)
    yield d
    d.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _shot(driver, tmp_path: Path, name: str) -> Path:
    """Full-page screenshot into the test's tmp dir and runs/screenshots/ (git-ignored)."""
    height = driver.execute_script("return Math.min(document.body.scrollHeight, 3000)")
    driver.set_window_size(1360, max(800, int(height) + 40))
    path = tmp_path / f"{name}.png"
    assert driver.save_screenshot(str(path))
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SHOTS / path.name)
    driver.set_window_size(1360, 1000)
    return path


def _wait(driver, css: str, timeout: float = 20, text: str | None = None):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    from selenium.common.exceptions import TimeoutException

    w = WebDriverWait(driver, timeout)
    try:
        if text is None:
            return w.until(EC.visibility_of_element_located((By.CSS_SELECTOR, css)))
        w.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))
    except TimeoutException:
        SHOTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SHOTS / "failed_wait.png"))
        body = driver.find_element(By.TAG_NAME, "body").text[:600]
        raise AssertionError(f"waited {timeout}s for {css!r} (text {text!r}) at {driver.current_url}; "
                             f"page shows: {body!r}") from None
    return driver.find_element(By.CSS_SELECTOR, css)


def _images_loaded(driver, css: str, timeout: float = 20) -> int:
    from selenium.webdriver.support.ui import WebDriverWait

    js = (f"const im = Array.from(document.querySelectorAll({css!r}));"
          "return im.length > 0 && im.every(i => i.complete && i.naturalWidth > 0) ? im.length : 0;")
    return WebDriverWait(driver, timeout).until(lambda d: d.execute_script(js))


def test_browse_every_view(served, driver, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    base, docs, _ = served
    star, audit, art = docs["star"], docs["audit"], docs["artifacts"]
    # feature list: search by name, open the feature
    driver.get(base + "/")
    _wait(driver, "#feature-table td")
    assert len(driver.find_elements(By.CSS_SELECTOR, "#feature-table tbody tr")) > 5
    _shot(driver, tmp_path, "01_feature_list")
    box = driver.find_element(By.ID, "feature-search")
    box.send_keys(star.name)
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 20).until(lambda d: " latent" in d.find_element(By.ID, "feature-count").text)
    WebDriverWait(driver, 20).until(lambda d: star.name in d.find_element(By.ID, "feature-table").text)
    _shot(driver, tmp_path, "02_feature_search")
    driver.get(base + f"/feature/{star.latent}")
    # feature page: its images load (heatmap PNGs rendered from the store)
    _wait(driver, ".page-title", text=f"#{star.latent} · {star.name}")
    n_top = _images_loaded(driver, "#top-examples img")
    assert n_top >= 4
    _wait(driver, "#feature-hist .main-svg")
    roles = [cls for cls, r in audit.classes.items() for c in r.target + r.context if c.latent == star.latent]
    if roles:
        assert roles[0] in driver.find_element(By.CSS_SELECTOR, ".page").text  # the audit class link
    _shot(driver, tmp_path, "03_feature_page")
    # feature -> sample
    driver.find_element(By.CSS_SELECTOR, "#top-examples a").click()
    _wait(driver, ".page-title", text="Sample ")
    _images_loaded(driver, ".hero-img")
    _shot(driver, tmp_path, "04_sample_page")
    # audit view and one class
    driver.find_element(By.ID, "nav-audit").click()
    _wait(driver, ".page-title", text="Audit")
    assert all(c in driver.find_element(By.ID, "audit-classes").text for c in audit.classes)
    _shot(driver, tmp_path, "05_audit")
    cls = max(audit.classes, key=lambda c: len(audit.classes[c].target))
    driver.get(base + f"/class/{cls}")
    _wait(driver, ".page-title", text=f"Class: {cls}")
    assert _images_loaded(driver, ".role-col-target img") == min(12, len(audit.classes[cls].target))
    _shot(driver, tmp_path, "06_audit_class")
    # artifacts view
    driver.find_element(By.ID, "nav-artifacts").click()
    _wait(driver, "#artifacts-norms .main-svg")
    assert _images_loaded(driver, "img[src^='/files/artifacts/']") == len([l for l in art.layers if l.heatmap])
    _shot(driver, tmp_path, "07_artifacts")
    # steering: change the strength, the effect is recomputed
    driver.find_element(By.ID, "nav-steering").click()
    _wait(driver, "#steer-summary", timeout=40, text="strength 2")
    before = _wait(driver, "#steer-cosine", timeout=40).text
    handle = driver.find_element(By.CSS_SELECTOR, "#steer-strength [role='slider']")
    handle.click()
    for _ in range(4):
        handle.send_keys(Keys.ARROW_LEFT)
    _wait(driver, "#steer-summary", timeout=40, text="strength 1")
    after = _wait(driver, "#steer-cosine", timeout=40).text
    assert before != after and float(after) > float(before)  # a weaker clamp moves the output less
    _shot(driver, tmp_path, "08_steering")


def test_raw_http_traversal_is_refused(served):
    """Raw request targets (browsers would normalise the dots away before sending)."""
    _, _, port = served
    for target in ["/files/artifacts/../../../../../../etc/passwd", "/files/audit/..%2f..%2f..%2fetc%2fpasswd",
                   "/files/artifacts/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/img/sample/../../../etc/passwd",
                   "/files/names/names.json", "/files/artifacts/artifacts.json", "/_dash-component-suites/../../x"]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", target)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        assert b"root:x:" not in body and b'"kind"' not in body, target
        assert resp.status == 404, (target, resp.status)
