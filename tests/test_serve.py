"""serve.py: the page driven in a real browser, and the helpers behind it.

The browser tests start ``serve.py`` with the shipped model on a free loopback
port and drive it with Debian's Chromium (``/usr/bin/chromium``) through
Playwright, headless. Every request the page makes to another host is blocked
and counted: the page must work offline. Without Chromium or Playwright the
browser tests are skipped, and fail under CI (``CI`` set), like the tests that
need ``../shared/data``.
"""
import os
import pathlib
import re
import socket
import subprocess
import sys
import time
import urllib.request

import cv2
import numpy as np
import pytest
from PIL import Image

from completion import photo_masks
import serve
import utils
from conftest import ROOT
from shared.errors import UserError

CHROMIUM = os.environ.get("DCGAN_CHROMIUM", "/usr/bin/chromium")
SCREENSHOT = ROOT / "docs" / "serve.png"
SIZE = 64
STATUS = "#status"
# The server runs at most 50 iterations of the feature search after z's, not complete.py's
# 200: the page passes complete.py's flags on (checked here through every status line), and
# the browser tests spend less time searching. Early stopping is the default's (--stopTol).
FEATURE_ITER = 50


def require_browser():
    """Playwright and Chromium, or skip (fail under CI)."""
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "the playwright package is not installed (pip install -r requirements.txt)"
    if problem is None and not os.path.exists(CHROMIUM):
        problem = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ------------------------------------------------------------------ the server
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """serve.py on a free loopback port with the shipped model; stopped after the module."""
    require_browser()
    port = free_port()
    folder = tmp_path_factory.mktemp("serve")
    log_path = folder / "serve.log"
    env = dict(os.environ, GRADIO_TEMP_DIR=str(folder / "gradio"), TF_CPP_MIN_LOG_LEVEL="2",
               GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "serve.py", "--port", str(port), "--checkpointDir",
             str(ROOT / "checkpoint"), "--precision", "float32",
             "--featureIter", str(FEATURE_ITER)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 240
        while True:
            if process.poll() is not None:
                pytest.fail(f"serve.py exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"serve.py did not answer within 240 s:\n{log_path.read_text()}")
            time.sleep(1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Headless Chromium without a GPU gets software WebGL only when SwiftShader is asked
        # for; without it the editor's brush took 2.3 s per mouse move here, with it 0.9 s.
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--use-angle=swiftshader", "--enable-unsafe-swiftshader"])
        yield chromium
        chromium.close()


class Offline:
    """Block and record every request to a host other than the page's."""

    def __init__(self):
        self.blocked = []

    def __call__(self, route):
        host = re.match(r"^[a-z]+://([^/:]+)", route.request.url)
        if host and host.group(1) not in ("127.0.0.1", "localhost"):
            self.blocked.append(route.request.url)
            return route.abort()
        return route.continue_()


@pytest.fixture
def open_page(browser, server):
    """open_page() -> a fresh page (its own session) on the server; checks it stayed offline."""
    contexts, guards = [], []

    def opener():
        context = browser.new_context(viewport={"width": 1400, "height": 1300},
                                      accept_downloads=True)
        guard = Offline()
        context.route("**/*", guard)
        page = context.new_page()
        page.goto(server)
        page.wait_for_selector("#upload")
        contexts.append(context)
        guards.append(guard)
        return page

    yield opener
    for context in contexts:
        context.close()
    assert [url for guard in guards for url in guard.blocked] == []


def wait_status(page, pattern: str, timeout: float = 120):
    """Wait until the status line matches the regular expression ``pattern``; return its text
    (on a timeout, the failure shows the status line it had then)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function("pattern => new RegExp(pattern).test(document.querySelector("
                               "'#status').innerText)", arg=pattern, timeout=timeout * 1000)
    except PlaywrightTimeout:
        pytest.fail(f"the status line did not match {pattern!r} within {timeout:g} s; it says: "
                    f"{page.inner_text(STATUS)!r}")
    return page.inner_text(STATUS)


def upload(page, path):
    with page.expect_file_chooser() as chooser:
        page.click("#upload")
    chooser.value.set_files(str(path))


def load(page, path):
    """Upload ``path`` and wait for the faces."""
    upload(page, path)
    return wait_status(page, re.escape(pathlib.Path(path).name) + r": \d+x\d+, \d+ faces? found",
                       timeout=240)


def load_demo(page):
    page.click("#demo-photo")
    return wait_status(page, r"astronaut\.png: 512x512, \d+ faces? found")


def type_value(field, value):
    """Type ``value`` into ``field`` key by key, as a user types (fill() only sets it), press
    Enter and leave the field (blur), so the page commits it before the next click."""
    field.fill("")
    field.press_sequentially(str(value))
    field.press("Enter")
    field.blur()


def fill(page, element_id, value):
    """Type ``value`` into a field (:func:`type_value`) and wait until the field holds it."""
    field = page.locator(f"#{element_id} input")
    type_value(field, value)
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    try:
        page.wait_for_function("([selector, value]) => document.querySelector(selector).value "
                               "== value", arg=[f"#{element_id} input", str(value)], timeout=10_000)
    except PlaywrightTimeout:
        pytest.fail(f"#{element_id} holds {field.input_value()!r}, not {str(value)!r}, 10 s "
                    f"after typing it")


def choose_mask(page, mask_type):
    page.locator("#mask-choice").get_by_label(mask_type, exact=True).check()


def set_stop_tol(page, value):
    """The page's early-stopping tolerance (under "More search options"; 0: every iteration).

    The accordion mounts its fields when it is first opened and gives them their initial
    values a moment later: a value typed in between is overwritten (seen here: '0' typed,
    '0.5' again 130 ms later; later under CI's load, where the search then stopped early
    as by the default). So the value is typed again until it has held for two seconds."""
    if not page.locator("#stop-tol input").is_visible():
        page.get_by_text("More search options").click()
    field = page.locator("#stop-tol input")
    field.wait_for(state="visible", timeout=10_000)
    held = 0
    for _ in range(15):
        if field.input_value() != str(value):
            held = 0
            type_value(field, value)
        page.wait_for_timeout(1000)
        held = held + 1 if field.input_value() == str(value) else 0
        if held == 2:                     # the same value at two checks a second apart
            return
    pytest.fail(f"#stop-tol holds {field.input_value()!r}, not {str(value)!r}, after 15 s")


def complete(page, pattern=r"Done: \d+ iterations", timeout=300):
    page.click("#complete")
    return wait_status(page, pattern, timeout)


def download(page, element_id):
    with page.expect_download(timeout=120_000) as info:
        page.click(f"#{element_id}")
    return utils.load_rgb(info.value.path())


def landmarks_of(photo):
    from align import AlignDlib

    aligner = AlignDlib()
    return np.array(aligner.findLandmarks(photo, aligner.getLargestFaceBoundingBox(photo)),
                    np.float64)


class Canvas:
    """Where the editor draws the photo: photo pixel (x, y) -> page coordinates."""

    def __init__(self, page, edit):
        self.page = page
        self.canvas = page.locator("#editor canvas").first
        self.edit_shape = edit.shape
        for _ in range(40):              # the editor fits a new photo to the canvas in a while
            self.box = self.canvas.bounding_box()
            best = self.find(edit)
            if best is not None and best[0] < 0.05:
                break
            time.sleep(0.5)
        assert best is not None and best[0] < 0.05, f"photo not found on the canvas: {best}"
        self.scale, self.offset = best[1], best[2]

    def find(self, edit):
        """(score, scale, (x, y)) of the photo in a screenshot of the canvas, or None."""
        zoom = float(re.search(r"(\d+)%", self.page.inner_text("#editor")).group(1)) / 100
        shot = self.screenshot()
        best = None
        for scale in np.arange(zoom - 0.02, zoom + 0.021, 0.0025):   # the zoom shown is rounded
            template = cv2.resize(edit, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            if template.shape[0] > shot.shape[0] or template.shape[1] > shot.shape[1]:
                continue
            score, _, where, _ = cv2.minMaxLoc(cv2.matchTemplate(shot, template,
                                                                 cv2.TM_SQDIFF_NORMED))
            if best is None or score < best[0]:
                best = (score, scale, where)
        return best

    def screenshot(self):
        png = np.frombuffer(self.canvas.screenshot(), np.uint8)
        return cv2.imdecode(png, cv2.IMREAD_COLOR)[:, :, ::-1].copy()

    def to_page(self, x, y):
        return (self.box["x"] + self.offset[0] + (x + 0.5) * self.scale,
                self.box["y"] + self.offset[1] + (y + 0.5) * self.scale)

    def stroke(self, points, steps=12):
        """Drag the mouse through ``points`` (editor-photo pixels) with the brush."""
        self.page.get_by_label("Brush", exact=True).click()
        mouse = self.page.mouse
        mouse.move(*self.to_page(*points[0]))
        mouse.down()
        for start, end in zip(points[:-1], points[1:]):
            for t in np.linspace(0, 1, steps)[1:]:
                mouse.move(*self.to_page(*(np.asarray(start) + t * (np.subtract(end, start)))))
        mouse.up()

    def painted(self, before):
        """(H, W) bool at the editor photo's size: pixels turned magenta since ``before``."""
        after = self.screenshot()

        def magenta(shot):
            shot = shot.astype(int)
            return (shot[..., 0] > 200) & (shot[..., 1] < 90) & (shot[..., 2] > 200)

        screen = magenta(after) & ~magenta(before)
        height, width = self.edit_shape[:2]
        x0, y0 = self.offset
        region = screen[y0:y0 + int(round(height * self.scale)),
                        x0:x0 + int(round(width * self.scale))].astype(np.uint8)
        return cv2.resize(region, (width, height), interpolation=cv2.INTER_NEAREST) > 0


def grow(mask, pixels):
    kernel = np.ones((2 * pixels + 1, 2 * pixels + 1), np.uint8)
    return cv2.dilate(mask.astype(np.uint8), kernel) > 0


def shrink(mask, pixels):
    kernel = np.ones((2 * pixels + 1, 2 * pixels + 1), np.uint8)
    return cv2.erode(mask.astype(np.uint8), kernel) > 0


def brush_mouth(page, photo, edit, steps=12):
    """Brush a stroke from one mouth corner to the other in ``steps`` mouse moves; return the
    brushed pixels (photo size) and the mouth's landmarks (photo pixels).

    The landmarks come from ``edit``, the photo as the editor shows it (at most EDIT_SIDE):
    on a 50-megapixel photo dlib's detector alone takes half a minute, and the stroke only
    needs the mouth to within a few of the editor's pixels."""
    scale = edit.shape[1] / photo.shape[1]
    mouth = landmarks_of(edit)[48:68]
    canvas = Canvas(page, edit)
    before = canvas.screenshot()
    y = mouth[:, 1].mean()
    started = time.perf_counter()
    canvas.stroke([(mouth[:, 0].min(), y), (mouth[:, 0].max(), y)], steps=steps)
    print(f"\nthe stroke took {time.perf_counter() - started:.1f} s")
    time.sleep(0.5)
    brushed = canvas.painted(before)
    assert brushed[int(y), int(mouth[:, 0].mean())], "the stroke did not reach the mouth"
    return serve.upscale_hole(brushed, photo.shape), mouth / scale


def check_only_brushed_pixels_changed(pasted, photo, brushed, tolerance):
    """The downloaded photo equals the upload outside the brush, and changed inside it."""
    assert pasted.shape == photo.shape
    changed = (pasted != photo).any(axis=2)
    outside = ~grow(brushed, tolerance)
    assert not changed[outside].any(), \
        f"{changed[outside].sum()} pixels outside the brushed region changed"
    core = shrink(brushed, tolerance)
    assert core.sum() > 100 and changed[core].mean() > 0.9
    return changed


# --------------------------------------------------------------- browser tests
@pytest.mark.slow
def test_brush_the_mouth_watch_the_search_and_download(open_page, photos_dir):
    path = photos_dir / "face_recognition" / "examples" / "obama.jpg"
    photo = utils.load_rgb(path)
    page = open_page()
    status = load(page, path)
    assert "obama.jpg: 910x1137, 1 face found" in status
    # The face found is shown whole: its square tile lies inside the gallery's box (with
    # Gradio's fit_columns a lone tile spanned the gallery's width and showed only its top).
    box = page.locator("#faces .grid-wrap").bounding_box()
    tile = page.locator("#faces img").first.bounding_box()
    assert abs(tile["width"] - tile["height"]) <= 2
    assert box["y"] - 1 <= tile["y"] and tile["y"] + tile["height"] <= box["y"] + box["height"] + 1
    # The iteration field starts empty: the start's caps (a gr.Number would send 0).
    assert page.locator("#n-iter input").input_value() == ""
    brushed, mouth = brush_mouth(page, photo, photo)
    page.evaluate("""() => { window.statusLog = [];
        new MutationObserver(() => window.statusLog.push(document.querySelector('#status')
            .innerText)).observe(document.querySelector('#status'),
            {childList: true, subtree: true, characterData: true}); }""")
    fill(page, "n-iter", 100)        # z's 100 + the feature search's: live updates every 50
    total = 100 + FEATURE_ITER       # the most; the default --stopTol may end it sooner
    started = time.perf_counter()
    status = complete(page)
    seconds = time.perf_counter() - started
    done = re.search(rf"Done: (\d+) iterations( of at most {total}, stopped early: the fill "
                     rf"changed by less than 0.5 grey levels in 10 iterations)? in [\d.]+ s, loss "
                     r"[\d.]+\. Pasted \(blended\) into obama\.jpg at 910x1137", status)
    assert done, status
    iterations = int(done.group(1))
    assert iterations <= total and (done.group(2) is not None) == (iterations < total)
    log = page.evaluate("window.statusLog")
    assert any(re.search(rf"Iteration \d+ of at most {total}", text) for text in log), log
    assert page.locator("#row img").count() == 1 and page.locator("#pasted img").count() == 1
    pasted = download(page, "download-pasted")
    changed = check_only_brushed_pixels_changed(pasted, photo, brushed, tolerance=3)
    ys, xs = np.nonzero(changed)
    assert mouth[:, 0].min() - 40 < xs.mean() < mouth[:, 0].max() + 40
    assert mouth[:, 1].min() - 30 < ys.mean() < mouth[:, 1].max() + 30
    face = download(page, "download-face")
    assert face.shape == (SIZE, SIZE, 3)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    print(f"\nComplete -> result, {iterations} iterations: {seconds:.1f} s")


@pytest.mark.slow
def test_a_photo_without_a_face_says_so(open_page, tmp_path):
    from skimage import data

    path = tmp_path / "chelsea.png"
    utils.save_rgb(data.chelsea(), path)
    page = open_page()
    upload(page, path)
    status = wait_status(page, "No face found in chelsea.png")
    assert "frontal face" in status
    assert "No face found in chelsea.png" in page.locator(".toast-body").first.inner_text()
    complete(page, r"No face found in chelsea\.png: upload a photo with a frontal face")


@pytest.mark.slow
def test_a_file_that_is_not_an_image_says_so(open_page, tmp_path):
    page = open_page()
    for name in ("notes.png", "notes.txt"):
        path = tmp_path / name
        path.write_text("this is not an image\n")
        upload(page, path)
        wait_status(page, re.escape(name) + r" is not an image this page can read: cannot read "
                          r"image .*Upload a photo \(PNG or JPEG\)")
    complete(page, r"Upload a photo or press 'Demo photo' first")


@pytest.mark.slow
def test_an_empty_brush_says_so(open_page):
    page = open_page()
    load_demo(page)
    complete(page, r"The brush is empty: brush over the part of the face to fill")


@pytest.mark.slow
def test_a_brush_covering_the_whole_face_says_so(open_page):
    from skimage import data

    photo = data.astronaut()
    page = open_page()
    load_demo(page)
    face = serve.find_faces(photo, SIZE)[0]
    corners = cv2.transform(np.array([[[-1, -1]], [[SIZE, -1]], [[-1, SIZE]], [[SIZE, SIZE]]],
                                     np.float64), cv2.invertAffineTransform(face.transform))
    (x0, y0), (x1, y1) = corners[:, 0].min(axis=0) - 4, corners[:, 0].max(axis=0) + 4
    canvas = Canvas(page, photo)
    zigzag = []
    for row, y in enumerate(np.arange(y0, y1 + 10, 10)):     # the brush is about 30 pixels wide
        zigzag += [(x0, y), (x1, y)] if row % 2 == 0 else [(x1, y), (x0, y)]
    canvas.stroke(zigzag, steps=2)
    complete(page, r"The mask covers 100% of the aligned face: the search needs at least 5% of "
                   r"it known to match")


@pytest.mark.slow
def test_stop_ends_a_long_search_with_the_result_so_far(open_page):
    page = open_page()
    load_demo(page)
    choose_mask(page, "center")
    fill(page, "n-iter", 100000)
    set_stop_tol(page, 0)                    # no early stopping: every iteration runs
    total = 100000 + FEATURE_ITER
    page.evaluate("""() => { window.statuses = [];
        new MutationObserver(() => window.statuses.push(document.querySelector('#status')
            .innerText)).observe(document.querySelector('#status'),
            {childList: true, subtree: true, characterData: true}); }""")
    page.click("#complete")
    wait_status(page, rf"Iteration [1-9]\d* of at most {total}")
    # the stop tolerance typed reached the search (the status before the first snapshot)
    started = [text for text in page.evaluate("window.statuses") if "Searching with" in text]
    assert started and "no early stop" in started[-1], started
    # Stop answers with a notice, not on the status line (its answer could reach the browser
    # after the final status and hide it). Notices are recorded as they appear: one may come
    # and go (after its display time) before or after the search's last status.
    page.evaluate("""() => { window.notices = [];
        new MutationObserver(() => document.querySelectorAll('.toast-body').forEach(
            toast => window.notices.push(toast.innerText))).observe(document.body,
            {childList: true, subtree: true, characterData: true}); }""")
    page.click("#stop")
    status = wait_status(page, rf"Stopped at iteration \d+ of {total}", timeout=60)
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function("() => window.notices.some(text => text.includes("
                               "\"Stopping at the search's next update\"))", timeout=30_000)
    except PlaywrightTimeout:
        pytest.fail(f"no notice of the stop within 30 s; notices: "
                    f"{sorted(set(page.evaluate('window.notices')))}")
    assert "Pasted (blended) into astronaut.png at 512x512" in status   # --blend: the default
    page.locator("#download-pasted").wait_for(state="visible", timeout=10_000)
    fill(page, "n-iter", 5)                  # the server is free again
    complete(page, rf"Done: {5 + FEATURE_ITER} iterations in")


@pytest.mark.slow
def test_two_users_at_once_get_their_own_results(open_page, photos_dir):
    from skimage import data

    path = photos_dir / "openface" / "examples" / "clapton-2.jpg"
    photos = [utils.load_rgb(path), data.astronaut()]
    pages = [open_page(), open_page()]
    load(pages[0], path)
    load_demo(pages[1])
    for page in pages:
        choose_mask(page, "center")
        fill(page, "n-iter", 30)
    for page in pages:
        page.click("#complete")
    for page, photo in zip(pages, photos):
        name = "clapton-2.jpg" if photo is photos[0] else "astronaut.png"
        wait_status(page, rf"Done: \d+ iterations .* Pasted \(blended\) into "
                          rf"{re.escape(name)}", timeout=300)
        pasted = download(page, "download-pasted")
        assert pasted.shape == photo.shape
        face = serve.find_faces(photo, SIZE)[0]
        footprint = photo_masks.face_footprint(face.transform, SIZE, photo.shape)
        changed = (pasted != photo).any(axis=2)
        assert changed.sum() > 100 and not changed[~grow(footprint, 1)].any()


@pytest.mark.slow
def test_a_50_megapixel_photo(open_page, photos_dir, tmp_path):
    small = utils.load_rgb(photos_dir / "face_recognition" / "examples" / "obama.jpg")
    # 49.6 megapixels, a JPEG as a camera writes it (5 MB; a PNG of it is 33 MB and takes
    # 6 s to write). The server keeps the file's pixels, so they are what must survive.
    path = tmp_path / "large.jpg"
    Image.fromarray(cv2.resize(small, (6300, 7870), interpolation=cv2.INTER_CUBIC)).save(
        path, quality=95)
    photo = utils.load_rgb(path)
    page = open_page()
    started = time.perf_counter()
    assert "large.jpg: 6300x7870, 1 face found" in load(page, path)
    loaded = time.perf_counter() - started
    edit = serve.downscale(photo, serve.EDIT_SIDE)
    brushed, _ = brush_mouth(page, photo, edit, steps=4)   # each move redraws a 1,536-pixel canvas
    fill(page, "n-iter", 5)
    started = time.perf_counter()
    status = complete(page)
    assert "Pasted (blended) into large.jpg at 6300x7870" in status
    pasted = download(page, "download-pasted")
    completed = time.perf_counter() - started
    check_only_brushed_pixels_changed(pasted, photo, brushed,
                                      tolerance=int(np.ceil(photo.shape[1] / edit.shape[1])) * 3)
    print(f"\n50 megapixels: loaded in {loaded:.1f} s, completed and downloaded in "
          f"{completed:.1f} s ({status})")


# --------------------------------------------------------- without a browser
def test_flags_are_complete_py_s():
    args = serve.resolve_defaults(serve.build_parser().parse_args([]))
    assert (args.port, args.host, args.checkpointDir) == (7860, "127.0.0.1", "checkpoint")
    assert (args.approach, args.lr, args.nIter, args.outInterval) == ("momentum", 1.0, None, 50)
    assert (args.maskType, args.blend, args.weighted, args.nRestarts) == (serve.BRUSH, True, True, 1)
    args = serve.resolve_defaults(serve.build_parser().parse_args(
        ["--approach", "adam", "--nIter", "300", "--maskType", "center", "--port", "8000"]))
    assert (args.approach, args.lr, args.nIter, args.maskType, args.port) == (
        "adam", 0.03, 300, "center", 8000)
    with pytest.raises(SystemExit):
        serve.build_parser().parse_args(["--nIter", "-1"])


def test_a_non_image_file_is_a_user_error(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"\xff\xd8 not really a JPEG")
    with pytest.raises(UserError, match=r"photo.jpg is not an image this page can read"):
        serve.read_photo(str(path))


def test_no_face_in_chelsea():
    from skimage import data

    assert serve.find_faces(data.chelsea(), SIZE) == []


def test_a_50_megapixel_photo_aligns_as_the_small_one(photos_dir):
    small = utils.load_rgb(photos_dir / "face_recognition" / "examples" / "obama.jpg")
    factor = 6300 / small.shape[1]
    large = cv2.resize(small, (6300, 7870), interpolation=cv2.INTER_CUBIC)
    started = time.perf_counter()
    found = serve.find_faces(large, SIZE)
    seconds = time.perf_counter() - started
    reference = serve.find_faces(small, SIZE)
    assert len(found) == len(reference) == 1
    # The same face: its transform, brought to the small photo's pixels, nearly the same.
    large_in_small = serve.scaled_transform(found[0].transform, 1 / factor)
    corners = np.array([[[0, 0]], [[SIZE, SIZE]]], np.float64)
    back = [cv2.transform(corners, cv2.invertAffineTransform(t)) for t in
            (large_in_small, reference[0].transform)]
    assert np.abs(back[0] - back[1]).max() < 6           # pixels of the 910x1137 photo
    assert seconds < 60


def test_the_brush_layer_becomes_a_hole():
    layer = np.zeros((40, 50, 4), np.uint8)
    layer[10:20, 5:15] = (255, 0, 255, 255)
    hole = serve.brush_hole({"background": None, "layers": [layer], "composite": None},
                            (40, 50, 3))
    assert hole.sum() == 100 and hole[10:20, 5:15].all()
    assert not serve.brush_hole({"layers": []}, (40, 50, 3)).any()
    assert not serve.brush_hole(None, (40, 50, 3)).any()
    large = serve.upscale_hole(hole, (400, 500, 3))
    assert large.shape == (400, 500) and large.sum() == 100 * 100


def test_the_page_s_inputs_become_the_mask_and_the_search_settings():
    rgb = np.full((64, 96, 3), 128, np.uint8)
    photo = serve.Photo("photo.png", rgb, rgb, [])
    identity = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])   # the face is the photo's left square
    face = serve.Face((0, 0, 64, 64), identity, rgb[:, :64])
    layer = np.zeros((64, 96, 4), np.uint8)
    layer[20:30, 10:20] = (255, 0, 255, 255)     # 100 pixels on the face
    layer[20:30, 70:80] = (255, 0, 255, 255)     # 100 beside it
    editor = {"background": rgb, "layers": [layer], "composite": None}
    rng = np.random.default_rng(0)
    brushed = serve.build_mask(photo, face, SIZE, serve.BRUSH, editor, 0.25, 0.2, "left", 0.25,
                               rng)
    expected = np.zeros((SIZE, SIZE), bool)
    expected[20:30, 10:20] = True
    assert brushed.mask.shape == (SIZE, SIZE, 1)
    assert np.array_equal(brushed.mask[..., 0] == 0, expected)
    assert brushed.hole.sum() == 200 and brushed.hole[20:30, 70:80].all()
    assert brushed.outside == pytest.approx(0.5) and brushed.lowres is None

    centre = serve.build_mask(photo, face, SIZE, "center", editor, 0.25, 0.2, "left", 0.25, rng)
    expected = np.zeros((SIZE, SIZE), bool)
    expected[16:48, 16:48] = True                # from 64 * 0.25 to 64 * 0.75
    assert np.array_equal(centre.mask[..., 0] == 0, expected)
    assert centre.hole is None and centre.edit_hole is None and centre.outside == 0.0
    assert centre.lowres.shape == (SIZE // 8, SIZE // 8, 1) and not centre.lowres.any()

    empty = {"background": rgb, "layers": [], "composite": None}
    with pytest.raises(UserError, match=r"^The brush is empty: brush over the part of the face"):
        serve.build_mask(photo, face, SIZE, serve.BRUSH, empty, 0.25, 0.2, "left", 0.25, rng)
    with pytest.raises(ValueError, match="centerScale must be in"):
        serve.build_mask(photo, face, SIZE, "center", editor, 0.75, 0.2, "left", 0.25, rng)

    args = serve.resolve_defaults(serve.build_parser().parse_args(["--hmcL", "7", "--sumLoss"]))
    config = serve.build_config(args, "adam", "", 0.5, 12.0, 3.0)
    assert (config.approach, config.lr, config.lam, config.n_iter, config.out_interval) == (
        "adam", 0.03, 0.5, 12, 3)
    assert (config.hmc_L, config.normalize, config.momentum) == (7, False, args.momentum)
    assert (config.feature_iter, config.feature_lr, config.total_iter) == (200, 30.0, 212)
    args = serve.resolve_defaults(serve.build_parser().parse_args(
        ["--featureIter", "0", "--featureLr", "5"]))     # complete.py's flags, passed on
    config = serve.build_config(args, "momentum", "", 0.1, 12, 3)
    assert (config.feature_iter, config.feature_lr, config.total_iter) == (0, 5.0, 12)
    assert serve.build_config(args, "momentum", 0.25, 0.1, 5, 1).lr == 0.25
    assert (config.stop_tol, config.stop_window) == (0.5, 10)          # complete.py's defaults
    assert serve.build_config(args, "momentum", None, 0.1, 5, 1, "0").stop_tol == 0.0
    with pytest.raises(ValueError, match="out_interval, hmc_L and stop_window >= 1"):
        serve.build_config(args, "momentum", None, 0.1, 5, 0)
    assert serve.whole_number("", "x") is None and serve.whole_number(None, "x") is None
    assert serve.whole_number(" 12 ", "x") == 12 and serve.whole_number("1e3", "x") == 1000
    for bad in ("-1", "2.5", "ten"):
        with pytest.raises(ValueError, match=f"^Iterations over z must be a whole number.*'{bad}'"):
            serve.whole_number(bad, "Iterations over z")
    # An empty iteration field: the start's caps (0 + 25 from the encoder, 1000 + 200 from
    # noise), and --featureIter unless given; a number applies to either start.
    args = serve.resolve_defaults(serve.build_parser().parse_args([]))
    for from_encoder, caps in ((True, (0, 25)), (False, (1000, 200))):
        config = serve.build_config(args, "momentum", "", 0.1, "", 50, from_encoder=from_encoder)
        assert (config.n_iter, config.feature_iter) == caps
        config = serve.build_config(args, "momentum", "", 0.1, 7, 50, from_encoder=from_encoder)
        assert (config.n_iter, config.feature_iter) == (7, caps[1])
