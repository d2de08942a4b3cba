#!/usr/bin/env python3
"""End-to-end test of muse-serve in headless Chromium (selenium + Debian's chromedriver).

Starts muse-serve on a free loopback port over the repository's Pipelines/, then,
in a real browser page:
  1. picks pixelate-region (a mask pipeline), uploads a picture, paints a mask on
     the canvas over it, sets a seed, runs it, and checks the result image against
     `muse-run Pipelines/pixelate-region.yaml` with the same picture, mask and seed
     (and that the painted mask changed the picture);
  2. picks txt2img-64, types a prompt, runs it, sees the sampler's progress on the
     page, and checks the result against `muse-run Pipelines/txt2img-64.yaml` with
     the same prompt and seed;
  3. reruns the first result from the history list and gets the same image.
Images are compared pixel for pixel (the PNGs' image data, not their text chunks).

    python3 Tests/e2e/serve_e2e.py [--build .build/debug] [--screenshot docs/images/muse-serve.png]
Run by scripts/test-browser.sh (from scripts/test.sh, so by .ci/run).
"""
import argparse
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def png_chunks(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, chunks = 8, []
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        chunks.append((data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]))
        pos += 12 + n
    return chunks


def png_pixels(data):
    """The header and the decompressed image data: equal for equal images from one encoder."""
    chunks = png_chunks(data)
    header = [d for t, d in chunks if t == b"IHDR"][0]
    return header, zlib.decompress(b"".join(d for t, d in chunks if t == b"IDAT"))


def png_text(data, keyword):
    for t, d in png_chunks(data):
        if t == b"iTXt" and d.startswith(keyword.encode() + b"\0"):
            rest = d[len(keyword) + 1:]
            flag = rest[0]
            rest = rest[2:]                        # compression flag and method
            rest = rest[rest.index(b"\0") + 1:]    # language tag
            rest = rest[rest.index(b"\0") + 1:]    # translated keyword
            return (zlib.decompress(rest) if flag else rest).decode()
    return None


def black_png(width, height):
    raw = b"".join(b"\0" + b"\0" * (3 * width) for _ in range(height))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def fetch(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read()


def muse_run(build, args, out):
    cmd = [os.path.join(build, "muse-run")] + args + ["--out", out, "--quiet"]
    subprocess.run(cmd, check=True, cwd=ROOT)
    with open(out, "rb") as f:
        return f.read()


class Page:
    def __init__(self, driver, base):
        self.d, self.base = driver, base

    def wait(self, condition, timeout=60, what="condition"):
        return WebDriverWait(self.d, timeout, poll_frequency=0.05).until(lambda d: condition(), message=what)

    def result_files(self):
        """The result images' file names (read in the page: the list is rebuilt as runs finish)."""
        return self.d.execute_script("return [...document.querySelectorAll('#images img')].map(i => i.dataset.file)")

    def choose(self, pipeline):
        Select(self.d.find_element(By.ID, "pipeline")).select_by_value(pipeline)
        self.wait(lambda: self.d.find_elements(By.CSS_SELECTOR, "#inputs [data-input]"), what="the form of " + pipeline)

    def field(self, name):
        return self.d.find_element(By.CSS_SELECTOR, '#inputs [data-input="%s"]' % name)

    def set_seed(self, seed):
        s = self.d.find_element(By.ID, "seed")
        s.clear()
        s.send_keys(str(seed))

    def run(self, timeout):
        """Clicks Run; returns the result image's file name and every status text shown."""
        old = self.result_files()
        # Record every status text and progress value the page shows while it runs.
        self.d.execute_script("""
            window.statusLog = [];
            const s = document.getElementById('status'), p = document.getElementById('progress');
            new MutationObserver(() => window.statusLog.push([s.textContent, p.value]))
                .observe(s, {childList: true, characterData: true, subtree: true});""")
        self.d.find_element(By.ID, "run").click()
        def new_image():
            files = self.result_files()
            status = self.d.execute_script("return document.getElementById('status').textContent")
            if "failed" in status or "busy" in status or "error" in status.lower():
                raise AssertionError("the run failed: " + status)
            return files and files != old and files[0]
        name = self.wait(new_image, timeout, "the result image")
        self.wait(lambda: self.d.execute_script(
            "const i = document.querySelector('#images img'); return i.complete && i.naturalWidth > 0"), 30, "the image to load")
        return name, self.d.execute_script("return window.statusLog")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=os.path.join(ROOT, ".build", "debug"), help="folder with muse-serve, muse-run and the plugins")
    parser.add_argument("--screenshot", help="save a screenshot of the page after the mask pipeline's run (the README's picture)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    args = parser.parse_args()
    build = os.path.abspath(args.build)
    tmp = tempfile.mkdtemp(prefix="muse-serve-e2e-")
    out = os.path.join(tmp, "out")
    server = subprocess.Popen([os.path.join(build, "muse-serve"), "--port", "0", "--pipelines", os.path.join(ROOT, "Pipelines"), "--out", out],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    driver = None
    try:
        line = server.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert m, "muse-serve did not print its address: %r" % line
        base = "http://127.0.0.1:%s" % m.group(1)
        print("e2e: muse-serve at", base)

        options = webdriver.ChromeOptions()
        options.binary_location = args.chromium
        for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,900"]:
            options.add_argument(a)
        # Chromium's first start on a fresh machine (font caches) can fail once: one retry.
        for attempt in (1, 2):
            try:
                driver = webdriver.Chrome(service=Service(args.chromedriver), options=options)
                break
            except Exception as e:
                if attempt == 2:
                    raise
                print("e2e: chromium did not start (%s); retrying" % str(e).splitlines()[0])
                time.sleep(2)
        driver.get(base + "/")
        page = Page(driver, base)
        page.wait(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#pipeline option")) > 0, what="the pipeline list")
        names = [o.get_attribute("value") for o in driver.find_elements(By.CSS_SELECTOR, "#pipeline option")]
        assert "pixelate-region" in names and "txt2img-64" in names, names

        # 1. A mask pipeline: upload a picture, paint a mask over it, run.
        page.choose("pixelate-region")
        picture = os.path.join(ROOT, "Examples", "scene.png")
        page.field("image").send_keys(picture)
        canvas = page.field("mask")
        page.wait(lambda: canvas.get_attribute("width") == "128", what="the mask canvas to take the picture's size")
        # A wide brush, one stroke from the square across the triangle.
        driver.execute_script("document.querySelector('#inputs input[type=range]').value = 24")
        chain = ActionChains(driver)
        chain.move_to_element_with_offset(canvas, -85, -85).click_and_hold()
        for _ in range(10):
            chain.move_by_offset(11, 16)
        chain.release().perform()
        page.set_seed(11)
        name, log = page.run(timeout=120)
        assert any(t.startswith("done") for t, _ in log), log
        served = fetch(base + "/files/" + name)
        provenance = json.loads(png_text(served, "muse:run"))
        assert provenance["seed"] == 11, provenance
        mask = provenance["inputs"]["mask"]
        assert os.path.dirname(mask) == os.path.join(out, "uploads"), mask
        expected = muse_run(build, ["Pipelines/pixelate-region.yaml", "--image", picture, "--mask", mask, "--seed", "11"],
                            os.path.join(tmp, "pixelate.png"))
        assert png_pixels(served) == png_pixels(expected), "the page's result differs from muse-run's"
        with open(os.path.join(tmp, "black.png"), "wb") as f:
            f.write(black_png(128, 128))
        unmasked = muse_run(build, ["Pipelines/pixelate-region.yaml", "--image", picture, "--mask", os.path.join(tmp, "black.png")],
                            os.path.join(tmp, "unmasked.png"))
        assert png_pixels(served) != png_pixels(unmasked), "the painted mask did not change the picture"
        pixelated = served
        if args.screenshot:
            driver.set_window_size(1400, 1000)
            driver.execute_script("window.scrollTo(0, 0)")
            driver.save_screenshot(args.screenshot)
            print("e2e: screenshot", args.screenshot)
        print("e2e: pixelate-region with an uploaded picture and a painted mask matches muse-run")

        # 2. txt2img-64: a prompt, the sampler's progress, the result.
        page.choose("txt2img-64")
        prompt = "three blue stars on a light blue background"
        page.field("prompt").clear()
        page.field("prompt").send_keys(prompt)
        page.set_seed(3)
        name, log = page.run(timeout=600)
        steps = [t for t, _ in log if re.match(r"running: sample \d+/24", t)]
        assert steps, "no sampler progress was shown: %r" % log[:20]
        assert any(0 < v < 1 for _, v in log), "the progress bar never moved: %r" % log[:20]
        served = fetch(base + "/files/" + name)
        expected = muse_run(build, ["Pipelines/txt2img-64.yaml", "--prompt", prompt, "--seed", "3"], os.path.join(tmp, "txt2img.png"))
        assert png_pixels(served) == png_pixels(expected), "the page's txt2img result differs from muse-run's"
        print("e2e: txt2img-64 showed %d progress updates and matches muse-run" % len(steps))

        # 3. The history reruns the first result.
        old = page.result_files()
        # Click the pixelate run's "rerun" button (in the page: the list is rebuilt after each run).
        page.wait(lambda: driver.execute_script("""
            const e = [...document.querySelectorAll('#history .entry')].find(e => e.textContent.includes('pixelate-region'));
            if (!e) return false;
            e.querySelector('button').click();
            return true;"""), what="the pixelate run in the history list")
        page.wait(lambda: page.result_files() and page.result_files() != old, 120, "the rerun's image")
        rerun = fetch(base + "/files/" + page.result_files()[0])
        assert png_pixels(rerun) == png_pixels(pixelated), "the rerun from the history differs from the first run"
        print("e2e: passed")
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
