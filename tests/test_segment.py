"""Parametric segments: the default L1-L3 study model, lordosis, discs, levels,
build time, export."""
from __future__ import annotations

import time

import numpy as np
import pytest

from biomech.errors import InputError
from biomech.meshes import landmarks as LM
from biomech.meshes.labels import Label
from biomech.meshes.morphometry import disc_morphometry
from biomech.meshes.segment import build_segment, default_segment


@pytest.fixture(scope="module")
def seg():
    t0 = time.perf_counter()
    m = default_segment(1.0)
    return m, time.perf_counter() - t0


def test_default_segment_labels_and_levels(seg):
    m, _ = seg
    assert m.level_names == ("L1", "L1-L2", "L2", "L2-L3", "L3")
    present = set(np.unique(m.labels).tolist())
    want = {Label.VOID, Label.CORTICAL, Label.CANCELLOUS, Label.ENDPLATE, Label.CARTILAGE_ENDPLATE,
            Label.POSTERIOR, Label.NUCLEUS, Label.ANNULUS}
    assert present == {int(x) for x in want}
    # every non-void voxel has a level, every void voxel none
    assert np.all((m.level >= 0) == (m.labels != Label.VOID))
    # discs hold only disc labels, vertebrae only bone labels
    for name in ("L1-L2", "L2-L3"):
        lab = m.labels[m.level == m.level_index(name)]
        assert set(np.unique(lab).tolist()) == {Label.NUCLEUS, Label.ANNULUS, Label.CARTILAGE_ENDPLATE}
    counts = m.meta["voxel_counts"]
    assert sum(counts.values()) == int((m.labels != 0).sum())


def test_default_segment_builds_in_seconds(seg):
    """The brief: a 1 mm L1-L3 segment in seconds (limit 20 s on a loaded
    2-core machine; about 3-5 s measured)."""
    _, t = seg
    assert t < 20.0


def test_disc_height_and_contact(seg):
    m, _ = seg
    d = disc_morphometry("L1", "L2")
    zi = LM.endplate_z(m, "L1")["inferior"]
    zs = LM.endplate_z(m, "L2")["superior"]
    assert zi - zs == pytest.approx(d.height, abs=1e-9)     # rim planes one disc height apart
    # the disc touches both bodies: no void between bone and disc in the central column
    ix, iy = [int((0.0 - o) / m.h) for o in m.origin[:2]]
    col = m.labels[ix, iy, :]
    lev = m.level[ix, iy, :]
    k = np.flatnonzero(lev == m.level_index("L1-L2"))
    assert m.labels[ix, iy, k.min() - 1] == Label.ENDPLATE and m.labels[ix, iy, k.max() + 1] == Label.ENDPLATE
    assert col[k[0]] == Label.CARTILAGE_ENDPLATE and col[k[-1]] == Label.CARTILAGE_ENDPLATE
    # nucleus share of the mid-disc section: 40 % +- 5 % (staircase at 1 mm)
    zmid = int(np.round(np.mean(k)))
    sec = m.labels[:, :, zmid][m.level[:, :, zmid] == m.level_index("L1-L2")]
    share = np.mean(sec == Label.NUCLEUS)
    assert share == pytest.approx(d.nucleus_area_fraction, abs=0.05)


def test_lordosis_opens_the_discs_anteriorly():
    m = build_segment(["L2", "L3"], 1.5, lordosis=True, posterior_elements=False)
    li = m.level_index("L2-L3")
    ijk = np.argwhere(m.level == li)
    c = m.centres(ijk)
    ant = c[:, 1] < -10.0
    post = c[:, 1] > 10.0

    def height(sel):
        cols = {}
        for (i, j, _), z in zip(ijk[sel], c[sel, 2]):
            cols.setdefault((i, j), []).append(z)
        return np.mean([max(v) - min(v) for v in cols.values()])
    assert height(ant) > height(post) + 1.5        # 6 deg over ~25 mm: ~2.6 mm
    assert m.meta["levels"]["L2"]["superior_endplate_normal"][1] != 0.0


def test_segment_bad_input():
    with pytest.raises(InputError, match="contiguous"):
        build_segment(["L1", "L3"])
    with pytest.raises(InputError, match="unknown vertebral level"):
        build_segment(["L5", "S1"])
    with pytest.raises(InputError, match="names no level"):
        build_segment(["L1", "L2"], morphometry={"L4": None})
    with pytest.raises(InputError, match="lordosis"):
        build_segment(["L1", "L2"], lordosis="lots")


def test_export_vti_has_labels_and_levels(seg, tmp_path):
    pytest.importorskip("pyvista")
    m, _ = seg
    path = tmp_path / "segment.vti"
    from biomech.viz import write_vti
    write_vti(path, m)
    import pyvista as pv
    img = pv.read(str(path))
    assert np.array_equal(np.asarray(img.cell_data["label"]), m.labels.ravel(order="F"))
    assert "cortical_fraction" in img.cell_data.keys()


def test_anatomy_example_runs_small():
    """examples/anatomy_segment.py at h = 2 mm: the L2 body volume (bone labels
    of level L2 minus posterior elements) lies within 15 % of the table's
    superellipse estimate (width x depth x height x 0.84: n = 2.4 fill factor
    ~0.87, less waist and concavities), and the Clouthier segment is built."""
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "examples" / "anatomy_segment.py"
    spec = importlib.util.spec_from_file_location("anatomy_segment", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    res = mod.main(small=True, real=False)
    seg = res["segment"]
    from biomech.meshes.morphometry import vertebra_morphometry
    t = vertebra_morphometry("L2")
    est = (0.5 * (t.superior_width + t.inferior_width) * 0.5 * (t.superior_depth + t.inferior_depth)
           * t.mean_height * 0.84)
    body = LM.vertebral_body_mask(seg, "L2").sum() * seg.h ** 3
    assert body == pytest.approx(est, rel=0.15)
