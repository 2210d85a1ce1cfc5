"""report.html: content, self-containment, and a real browser (headless Chromium).

The browser is Debian's ``chromium`` (``apt-get install chromium``), driven over
the DevTools protocol through a pipe (``--remote-debugging-pipe``: JSON messages
ending in NUL on file descriptors 3 and 4), so no selenium, driver binary or
network port is needed.  For each page the test waits for the load event, then
asks the page for every ``<img>``'s ``complete`` and ``naturalWidth``, and
collects console errors, uncaught exceptions, browser log errors (failed loads,
CSP violations) and every request the page made.  Skipped, with the reason, only
where no Chromium is installed.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import select
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from biomech.errors import InputError

pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install 'biomech[viz]')")

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
PAGE_TIMEOUT_S = 60.0


# ---------------------------------------------------------------------------- browser driver
def find_chromium() -> str | None:
    exe = os.environ.get("BIOMECH_CHROMIUM")
    if exe:
        return exe
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _high_fd(fd: int) -> int:
    """Move a descriptor to >= 10 (close-on-exec), so 3 and 4 are free for the child."""
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return new


class HeadlessChromium:
    """A headless Chromium driven over the DevTools pipe."""

    def __init__(self, executable: str, profile_dir: Path):
        r_cmd, self._w_cmd = map(_high_fd, os.pipe())      # we write, Chromium reads fd 3
        self._r_out, w_out = map(_high_fd, os.pipe())      # Chromium writes fd 4, we read
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                "--disable-default-apps", "--disable-extensions", "--mute-audio",
                f"--user-data-dir={profile_dir}", "--remote-debugging-pipe", "about:blank"]
        self.proc = subprocess.Popen(
            ["bash", "-c", f'exec "$0" "$@" 3<&{r_cmd} 4>&{w_out} {r_cmd}<&- {w_out}>&-',
             executable, *args],
            pass_fds=(r_cmd, w_out), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(r_cmd)
        os.close(w_out)
        self._buf = b""
        self._next_id = 0
        self._events: list[dict] = []

    def _send(self, method, params=None, session=None) -> int:
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w_cmd, json.dumps(msg).encode() + b"\0")
        return self._next_id

    def _read_until(self, predicate, timeout=PAGE_TIMEOUT_S) -> dict:
        end = time.monotonic() + timeout
        while True:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                msg = json.loads(raw)
                if predicate(msg):
                    return msg
                self._events.append(msg)
            left = end - time.monotonic()
            ready, _, _ = select.select([self._r_out], [], [], max(left, 0.0))
            if not ready:
                raise TimeoutError(f"Chromium did not answer within {timeout:.0f} s")
            chunk = os.read(self._r_out, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium closed the pipe (exit status {self.proc.poll()})")
            self._buf += chunk

    def call(self, method, params=None, session=None) -> dict:
        i = self._send(method, params, session)
        msg = self._read_until(lambda m: m.get("id") == i)
        if "error" in msg:
            raise RuntimeError(f"{method}: {msg['error']}")
        return msg["result"]

    def check_page(self, url: str) -> dict:
        """Load ``url`` in a fresh tab; return its title, images [(src start, complete,
        naturalWidth)], console/log errors and requested URLs."""
        self._events = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"]
        for domain in ("Runtime.enable", "Log.enable", "Page.enable", "Network.enable"):
            self.call(domain, session=session)
        self.call("Page.navigate", {"url": url}, session=session)
        self._read_until(lambda m: m.get("method") == "Page.loadEventFired"
                         and m.get("sessionId") == session)
        expr = ("JSON.stringify({title: document.title, images: Array.from(document.images)"
                ".map(i => [i.getAttribute('src').slice(0, 40), i.complete, i.naturalWidth])})")
        value = json.loads(self.call("Runtime.evaluate", {"expression": expr,
                                                          "returnByValue": True},
                                     session=session)["result"]["value"])
        mine = [e for e in self._events if e.get("sessionId") == session]
        errors = []
        for e in mine:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                errors.append("console: " + " ".join(str(a.get("value", a.get("description")))
                                                     for a in p.get("args", [])))
            elif m == "Runtime.exceptionThrown":
                errors.append("exception: " + p["exceptionDetails"].get("text", ""))
            elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
                errors.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
        requests = [e["params"]["request"]["url"] for e in mine
                    if e.get("method") == "Network.requestWillBeSent"]
        self.call("Target.closeTarget", {"targetId": target})
        return {"title": value["title"], "images": value["images"], "errors": errors,
                "requests": requests}

    def close(self):
        try:
            self._send("Browser.close")
            self.proc.wait(timeout=15)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(timeout=15)
        finally:
            os.close(self._w_cmd)
            os.close(self._r_out)


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    exe = find_chromium()
    if exe is None:
        pytest.skip("headless Chromium not found (Debian: apt-get install chromium; or set "
                    "BIOMECH_CHROMIUM to the browser executable)")
    browser = HeadlessChromium(exe, tmp_path_factory.mktemp("chromium-profile"))
    try:
        browser.call("Browser.getVersion")
    except (RuntimeError, TimeoutError) as exc:
        browser.close()
        pytest.skip(f"Chromium ({exe}) did not start headless: {exc}")
    yield browser
    browser.close()


def assert_page_ok(result: dict, n_images: int) -> None:
    assert result["errors"] == [], result["errors"]
    assert len(result["images"]) == n_images, result["images"]
    bad = [img for img in result["images"] if not (img[1] and img[2] > 0)]
    assert bad == [], f"images that did not load (src, complete, naturalWidth): {bad}"
    offline = [u for u in result["requests"] if not u.startswith(("file:", "data:", "about:"))]
    assert offline == [], f"the page fetched from the network: {offline}"


# ---------------------------------------------------------------------------- inputs
def _rows():
    return [
        {"case": "intact", "load_case": "compression", "stiffness_N_per_mm": 2400.0,
         "disc_pressure_MPa": {"L1-L2": 0.55}, "stiffness_N_per_mm_ratio": 1.0},
        {"case": "vertebroplasty", "load_case": "compression", "stiffness_N_per_mm": 2300.5,
         "disc_pressure_MPa": {"L1-L2": 0.62}, "stiffness_N_per_mm_ratio": 2300.5 / 2400,
         "cement_volume_ml": 4.0, "leak_volume_ml": {"canal": 0.12, "disc": 0.0}},
        {"case": "kyphoplasty", "load_case": "compression", "stiffness_N_per_mm": None,
         "disc_pressure_MPa": {"L1-L2": 0.70}, "stiffness_N_per_mm_ratio": float("nan")},
    ]


STUDY_TEXT = """# a study file (TOML)
[study]
name = "vp vs kp <L1>"
baseline = "intact"
[[cases]]
name = "vertebroplasty"
cement_volume_ml = 4.0
"""


@pytest.fixture(scope="module")
def plots(tmp_path_factory):
    """Two plot PNGs made with matplotlib (cheap; no renderer needed)."""
    from biomech.viz.plots import plot_level_ratios, plot_stiffness_restoration
    folder = tmp_path_factory.mktemp("plots")
    rows = _rows()
    plot_stiffness_restoration(rows, baseline="intact", filename=folder / "stiffness.png")
    plot_level_ratios(rows, "disc_pressure_MPa", baseline="intact",
                      filename=folder / "disc.png")
    return [("stiffness restoration", folder / "stiffness.png"),
            ("disc pressure ratios", folder / "disc.png")]


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


# ---------------------------------------------------------------------------- content
def test_report_content_is_complete_and_self_contained(tmp_path, plots):
    from biomech.viz.report import write_report
    study = tmp_path / "study.toml"
    study.write_text(STUDY_TEXT)
    csv = tmp_path / "results.csv"
    csv.write_text("case,stiffness_N_per_mm\nintact,2400\n")
    path = write_report(tmp_path, _rows(), title="VP vs KP", plots=plots, study_file=study,
                        files=[csv], baseline="intact", inputs={"seed": 7},
                        command="biomech run study.toml")
    text = path.read_text()
    parser = _Tags()
    parser.feed(text)
    imgs = [a for t, a in parser.tags if t == "img"]
    assert len(imgs) == 2 and all(a["src"].startswith("data:image/png;base64,") for a in imgs)
    links = [a.get("href", "") for t, a in parser.tags if t in ("a", "link", "script")]
    assert not any(re.match(r"(https?:)?//", h) for h in links)
    assert not any(t == "script" for t, _ in parser.tags)
    # the study file, verbatim and escaped, with its hash
    assert "vp vs kp &lt;L1&gt;" in text
    assert hashlib.sha256(study.read_bytes()).hexdigest() in text
    assert hashlib.sha256(csv.read_bytes()).hexdigest() in text
    assert "biomech run study.toml" in text
    import numpy
    assert f"<td>numpy</td><td>{numpy.__version__}</td>" in text
    # the full table: one body row per result row, nested values flattened, numbers for a
    # reader: whole numbers from 100 up (thousands separated), else 4 significant digits
    full = text[text.index('id="full-table"'):]
    body = full[full.index("<tbody>"):full.index("</tbody>")]
    assert body.count("<tr>") == 3
    assert "disc_pressure_MPa[L1-L2]" in text and "leak_volume_ml[canal]" in text
    assert "<td>2,300</td>" in body and "2300.5" not in body
    assert "<td>0.9585</td>" in body
    assert "e+0" not in body
    assert "<td>–</td>" in body                                       # None and NaN
    assert 'class="down"' not in body and 'class="up"' not in body    # ratios within 10 %


def test_readable_numbers():
    from biomech.viz.report import format_value
    from biomech.viz.report_text import round_sig
    assert format_value(14160.2) == "14,160"                 # not 1.416e+04
    assert round_sig(0.41784) == "0.418" and round_sig(2.013) == "2.01"
    assert round_sig(15.64) == "15.6" and round_sig(-0.1747) == "-0.175"
    assert round_sig(0.0) == "0" and round_sig(float("nan")) == "–"


def _demo_like_rows():
    """Two cases, a compression and a flexion row each; flexion rotates 15 deg and
    puts the nucleus in tension."""
    rows = []
    for case, k, ratio in (("untreated", 15145.3, 1.0), ("vertebroplasty", 23264.0, 1.536)):
        rows.append({"case": case, "load_case": "compression", "status": "ok",
                     "stiffness_N_per_mm": k, "stiffness_N_per_mm_ratio": ratio,
                     "segment_rotation_deg": 0.0, "L1-L2_disc_pressure_MPa": 0.42,
                     "adjacent_superior_disc_pressure_MPa": 0.42,
                     "adjacent_superior_disc_pressure_MPa_ratio": 1.0,
                     "bone_at_risk": 0.0011, "cement_volume_ml": 4.0 if ratio > 1 else 0.0,
                     "failure_load_N": 2345.0 * ratio, "kyphosis_deg": 14.2})
        rows.append({"case": case, "load_case": "flexion", "status": "ok",
                     "stiffness_N_per_mm": float("nan"), "segment_rotation_deg": 15.6,
                     "L1-L2_disc_pressure_MPa": -0.17, "bone_at_risk": 0.002})
        rows.append({"case": case, "load_case": "standing", "status": "ok",
                     "stiffness_N_per_mm": float("nan"), "segment_rotation_deg": 0.0,
                     "upper_body_weight_N": 236.0, "kyphosis_deg": 14.2,
                     "adjacent_superior_disc_pressure_MPa": 0.777,
                     "adjacent_superior_factor_of_risk": 0.31})
    return rows


def test_report_leads_with_headline_table_methods_limitations_and_warnings(tmp_path):
    """The compact table comes first (values with units, ratio to the baseline), then
    the full table; Methods, Limitations, the metric definitions and the validity
    warnings (rotation beyond the limit, nucleus in tension) are on the page."""
    from biomech.viz import report_text as T
    from biomech.viz.report import write_report
    specs = [{"name": "untreated", "conditions": [{"kind": "fracture", "level": "L2"}],
              "model": {"kind": "segment", "levels": ["L1", "L2", "L3"], "voxel_size_mm": 2.0},
              "load_cases": [{"name": "compression", "force_N": [0, 0, -500]}]},
             {"name": "vertebroplasty", "conditions": [{"kind": "fracture", "level": "L2"}],
              "treatments": [{"kind": "vertebroplasty", "level": "L2",
                              "cement": {"name": "pmma", "E_MPa": 1937.0, "nu": 0.3}}],
              "model": {"kind": "segment", "levels": ["L1", "L2", "L3"], "voxel_size_mm": 2.0},
              "load_cases": [{"name": "compression", "force_N": [0, 0, -500]}]},
             {"name": "lytic", "conditions": [{"kind": "metastasis", "lesion": "lytic"}],
              "model": {"kind": "segment", "levels": ["L1", "L2", "L3"], "voxel_size_mm": 2.0},
              "load_cases": [{"name": "compression", "force_N": [0, 0, -500]}]}]
    notes = T.comparison_notes(specs, "untreated")
    assert "isolate this one change" in notes["vertebroplasty"]
    assert notes["lytic"].startswith("differs from untreated in 2 ways")
    methods = T.methods(specs, materials=[("cortical", 12000.0, 0.3, "Purcell 2021")],
                        density_law="kopperdahl2002_qct_power")
    heads = [h for h, _ in methods]
    assert heads[:3] == ["Anatomy and mesh", "Conditions", "Materials"]
    assert {"Boundary conditions", "Load cases", "Solver", "Cement model"} <= set(heads)
    # the solver paragraph names the method the cases used (no analysis recorded here)
    assert "'unrecorded'" in dict(methods)["Solver"]
    gmg = [dict(c, analysis={"solver": "gmg", "rtol": 1e-6}) for c in specs]
    assert "'gmg': geometric multigrid" in dict(T.methods(gmg, materials=[]))["Solver"]
    path = write_report(tmp_path, _demo_like_rows(), baseline="untreated", methods=methods,
                        limitations=T.limitations(voxel_size_mm=2.0), comparisons=notes)
    text = path.read_text()
    assert text.index('id="headline-table"') < text.index('id="full-table"')
    head = text[text.index('id="headline-table"'):text.index("</table>", text.index('id="headline-table"'))]
    assert "15,145" in head and "23,264" in head and "&times;1.54" in head
    assert "[N/mm]" in head and "[MPa]" in head and "2,345" in head and "14.2" in head
    # the adjacent loads come from the posture load case, which the heading names
    assert "disc pressure above (standing)" in head and "0.777" in head and "0.31" in head
    assert "0.420" not in head
    assert head.count("<tr>") == 3                                  # header + 2 cases (compression)
    for section in ("Methods", "Limitations", "Metrics", "Validity warnings"):
        assert f">{section}</h2>" in text
    assert "tension-only" in text and "Purcell 2021" in text and "12,000 MPa" in text
    assert "yield strains of human vertebral trabecular bone" in text   # bone_at_risk defined
    assert "Motion-segment rotation 15.6-15.6 deg" in text and "Nucleus in tension" in text
    assert text.index("Validity warnings</h2>") < text.index("Results</h2>")


def test_validity_warnings_only_beyond_the_limits():
    from biomech.viz.report_text import ROTATION_LIMIT_DEG, validity_warnings
    ok = [{"case": "a", "load_case": "flexion", "segment_rotation_deg": ROTATION_LIMIT_DEG - 0.1,
           "L1-L2_disc_pressure_MPa": 0.1, "adjacent_superior_disc_pressure_MPa": -1.0}]
    assert validity_warnings(ok) == []               # adjacent_ repeats a disc: not counted twice
    bad = [dict(ok[0], segment_rotation_deg=-7.0)]
    assert len(validity_warnings(bad)) == 1 and "7.0 deg" in validity_warnings(bad)[0]


def test_report_rejects_missing_inputs(tmp_path):
    from biomech.viz.report import write_report
    with pytest.raises(InputError, match="does not exist"):
        write_report(tmp_path, _rows(), pictures=[("missing", tmp_path / "nope.png")])
    with pytest.raises(InputError, match="list of dicts"):
        write_report(tmp_path, ["not a row"])


# ---------------------------------------------------------------------------- browser
def test_report_loads_in_headless_chromium(chromium, tmp_path, plots):
    from biomech.viz.report import write_report
    path = write_report(tmp_path, _rows(), title="embedded", plots=plots, study_text=STUDY_TEXT)
    result = chromium.check_page(path.as_uri())
    assert result["title"] == "embedded"
    assert_page_ok(result, n_images=2)


def test_report_with_relative_image_files_loads(chromium, tmp_path, plots):
    """embed=False: images inside the folder are referenced in place, those outside
    are copied to report_files/; the page still loads every one."""
    from biomech.viz.report import ASSET_FOLDER, write_report
    inside = tmp_path / "pictures" / "inside.png"
    inside.parent.mkdir()
    shutil.copyfile(plots[0][1], inside)
    path = write_report(tmp_path, _rows(), title="relative", embed=False,
                        pictures=[("inside", inside)], plots=[plots[1]])
    text = path.read_text()
    assert 'src="pictures/inside.png"' in text and f'src="{ASSET_FOLDER}/disc-' in text
    assert_page_ok(chromium.check_page(path.as_uri()), n_images=2)


def test_page_checker_catches_broken_pages(chromium, tmp_path):
    """The checks can fail: a missing image, a console error and a network fetch
    are all reported."""
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><head><title>broken</title></head><body>'
                    '<img src="missing.png"><script>console.error("boom")</script>'
                    '<img src="http://127.0.0.1:9/x.png"></body></html>')
    result = chromium.check_page(page.as_uri())
    assert [img[2] for img in result["images"]] == [0, 0]
    assert any("boom" in e for e in result["errors"])
    assert any("missing.png" in e for e in result["errors"])
    assert any(u.startswith("http://127.0.0.1:9") for u in result["requests"])
    with pytest.raises(AssertionError):
        assert_page_ok(result, n_images=2)


def test_case_pictures_in_report_load_in_chromium(chromium, tmp_path):
    """The 3-D pictures of a vertebroplasty case, written by save_case_pictures, in
    a report that Chromium loads completely (needs an off-screen renderer)."""
    pytest.importorskip("pyvista", reason="pyvista is not installed")
    from biomech.viz.offscreen import renderer_status
    ok, reason = renderer_status()
    if not ok:
        pytest.skip(reason)
    from biomech.viz.export import write_case_files
    from biomech.viz.pictures import save_case_pictures
    from biomech.viz.report import write_report
    from tests.test_viz_pictures import synthetic_case, synthetic_segment
    case = synthetic_case(synthetic_segment(h=3.0))
    pics = save_case_pictures(case, tmp_path / "vp", window_size=(480, 320))
    assert len(pics) == 4                       # cut-away, cement, fields, anatomy
    files = write_case_files(tmp_path / "vp", case, "vertebroplasty")
    path = write_report(tmp_path, _rows(), pictures=pics, files=list(files.values()))
    assert "vertebroplasty.vtu" in path.read_text()
    assert_page_ok(chromium.check_page(path.as_uri()), n_images=4)
    assert np.all([p.stat().st_size > 1000 for p in pics.values()])
