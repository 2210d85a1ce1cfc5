"""3-D pictures, ParaView files and the viewer (biomech.viz).

Pictures are compared with committed reference images (tests/reference_images)
by :func:`assert_matches_reference`: same size, and at most
``REFERENCE_MAX_CHANGED`` of the pixels may be *unmatched*, a pixel being
matched when some pixel of the other image within one pixel of it (3 x 3
neighbourhood) is within ``REFERENCE_PIXEL_TOLERANCE`` grey levels in every
channel (checked both ways).  Different OpenGL stacks (Mesa llvmpipe here, a GPU
driver elsewhere) anti-alias edges and round shading a little differently: that
shifts edges by about a pixel and colours by a few grey levels, which this
metric absorbs, while a missing or moved feature (a cement blob, a wrong camera,
colour, field or range) leaves many unmatched pixels -- the negative test below
shows it failing for the same picture without cement.  To create or
update references: ``BIOMECH_UPDATE_REFERENCE_IMAGES=1 pytest tests/test_viz_pictures.py``,
then look at the PNGs before committing them.  Tests that draw are skipped,
with the reason, only where no off-screen renderer can start.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from biomech.errors import InputError
from biomech.meshes.labels import Label as L
from biomech.meshes.voxel_model import VoxelModel

REFERENCE_DIR = Path(__file__).parent / "reference_images"
#: Two pixels match when no channel differs by more than this many grey levels (of 255).
REFERENCE_PIXEL_TOLERANCE = 40
#: At most this fraction of the pixels may find no match within one pixel.
REFERENCE_MAX_CHANGED = 0.002
SMALL = (480, 320)


# ---------------------------------------------------------------------------- synthetic inputs
def synthetic_segment(h: float = 2.5, treatment: str | None = "vertebroplasty",
                      leak: bool = True, lesion: bool = True) -> VoxelModel:
    """Two elliptic vertebral bodies (L1 above L2; 40 x 30 mm, 24 mm tall) with
    cortex, endplates, posterior elements, a disc (annulus, nucleus, cartilage
    endplates), a lytic lesion in L2 and, in L1, a vertebroplasty (composite) or a
    kyphoplasty (cement cavity in a compacted shell); leaks into the canal and the
    disc.  Axes: x left-right, y anterior->posterior, z caudal->cranial."""
    origin = np.array([-24.0, -18.0, -2.0])
    shape = tuple(int(round(v / h)) for v in (48.0, 60.0, 64.0))
    c = origin + (np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1)
                  + 0.5) * h
    x, y, z = c[..., 0], c[..., 1], c[..., 2]
    lab = np.zeros(shape, np.uint8)
    lev = np.full(shape, -1, np.int8)
    r = np.sqrt((x / 20.0) ** 2 + (y / 15.0) ** 2)
    shell = 1.0 - 1.2 * h / 15.0
    for k, (z0, z1) in enumerate([(34.0, 58.0), (0.0, 24.0)]):          # L1, L2
        body = (r <= 1.0) & (z >= z0) & (z < z1)
        lab[body] = L.CANCELLOUS
        lab[body & (r > shell)] = L.CORTICAL
        lab[body & (r <= shell) & ((z < z0 + h) | (z >= z1 - h))] = L.ENDPLATE
        post = (z >= z0 + 4) & (z < z1 - 4) & (
            ((np.abs(x) > 5) & (np.abs(x) < 10) & (y >= 13) & (y < 24))
            | ((np.abs(x) < 12) & (y >= 24) & (y < 30)) | ((np.abs(x) < 3) & (y >= 30) & (y < 40)))
        lab[post & (lab == 0)] = L.POSTERIOR
        lev[body | post] = 2 * k
    disc = (r <= 1.0) & (z >= 24.0) & (z < 34.0)
    lab[disc] = L.ANNULUS
    lab[disc & (r <= 0.55)] = L.NUCLEUS
    lab[disc & ((z < 24.0 + h) | (z >= 34.0 - h)) & (r <= shell)] = L.CARTILAGE_ENDPLATE
    lev[disc] = 1
    if treatment == "vertebroplasty":
        blob = ((((x + 4) / 9) ** 2 + (y / 8) ** 2 + ((z - 46) / 7) ** 2 <= 1)
                & (lab == L.CANCELLOUS))
        lab[blob] = L.COMPOSITE
    elif treatment == "kyphoplasty":
        cav = ((x / 8) ** 2 + (y / 7) ** 2 + ((z - 46) / 7) ** 2 <= 1) & (lab == L.CANCELLOUS)
        ring = (((x / 10.5) ** 2 + (y / 9.5) ** 2 + ((z - 46) / 9.5) ** 2 <= 1)
                & (lab == L.CANCELLOUS) & ~cav)
        lab[cav] = L.CEMENT
        lab[ring] = L.COMPACTED
    if leak and treatment:
        canal = (np.abs(x + 4) < 3) & (y > 15.0) & (y < 20.5) & (np.abs(z - 46) < 3.5) & (lab == 0)
        lab[canal] = L.LEAKED_CEMENT
        lev[canal] = 0
        into_disc = (np.abs(x - 8) < 3) & (np.abs(y) < 3) & (z >= 31.0) & (z < 34.0)
        lab[into_disc] = L.LEAKED_CEMENT
    if lesion:
        lyt = ((x - 6) ** 2 + (y + 4) ** 2 + (z - 12) ** 2 <= 36) & (lab == L.CANCELLOUS)
        lab[lyt] = L.LYTIC
    return VoxelModel(lab, h, tuple(origin), level=lev, level_names=("L1", "L1-L2", "L2"))


#: Young's modulus per label [MPa] of the synthetic fields (order of magnitude only).
_E_BY_LABEL = {L.CORTICAL: 12000.0, L.CANCELLOUS: 300.0, L.ENDPLATE: 1000.0,
               L.CARTILAGE_ENDPLATE: 20.0, L.POSTERIOR: 8000.0, L.NUCLEUS: 1.0, L.ANNULUS: 8.0,
               L.CEMENT: 2500.0, L.COMPOSITE: 1200.0, L.COMPACTED: 600.0, L.LYTIC: 20.0,
               L.LEAKED_CEMENT: 2500.0}


def synthetic_case(model: VoxelModel, scale: float = 1.0):
    """CaseFields with smooth made-up fields of the right names and signs (a solve
    would take tens of seconds here; the pictures only need plausible arrays)."""
    from biomech import VoxelMesh
    from biomech.viz.pictures import CaseFields
    mesh = VoxelMesh.from_mask(model.labels != 0, model.h, model.origin)
    lab = model.labels[tuple(mesh.voxel_ijk.T)]
    E = np.array([_E_BY_LABEL.get(int(v), 100.0) for v in range(256)])[lab]
    p = mesh.points
    u = np.column_stack([0.002 * p[:, 0], 0.001 * p[:, 1], -0.004 * (p[:, 2] - p[:, 2].min())])
    cc = p[mesh.cells].mean(axis=1)
    vm = (1 + 4 * np.exp(-(((cc[:, 2] - 34) / 4) ** 2)) * (1 + cc[:, 0] / 30)) * np.sqrt(E / 300)
    eps = -0.004 * (1 + np.exp(-(((cc[:, 2] - 24) / 5) ** 2))) * (300 / np.maximum(E, 50)) ** 0.3
    cells = {"E_MPa": E, "von_mises_MPa": scale * vm, "min_principal_strain": scale * eps,
             "strain_energy_density_MPa": scale ** 2 * 0.5 * vm * np.abs(eps),
             "stress_zz_MPa": -scale * vm}
    return CaseFields(model, mesh, cells, {"displacement_mm": scale * u})


# ---------------------------------------------------------------------------- image helpers
def read_png(path) -> np.ndarray:
    from PIL import Image
    return np.asarray(Image.open(path).convert("RGB"))


def _unmatched(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(h, w) bool: pixels of ``a`` with no pixel of ``b`` in their 3 x 3
    neighbourhood within the pixel tolerance."""
    h, w, _ = a.shape
    pb = np.pad(b.astype(np.int16), ((1, 1), (1, 1), (0, 0)), mode="edge")
    best = np.full((h, w), 1 << 14, np.int16)
    for di in range(3):
        for dj in range(3):
            d = np.abs(a.astype(np.int16) - pb[di:di + h, dj:dj + w]).max(axis=-1)
            np.minimum(best, d, out=best)
    return best > REFERENCE_PIXEL_TOLERANCE


def image_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray]:
    """(fraction of unmatched pixels, either way; the (h, w) mask of them)."""
    mask = _unmatched(a, b) | _unmatched(b, a)
    return float(mask.mean()), mask


def assert_matches_reference(img: np.ndarray, name: str, tmp_path: Path) -> None:
    from PIL import Image
    ref_path = REFERENCE_DIR / f"{name}.png"
    if os.environ.get("BIOMECH_UPDATE_REFERENCE_IMAGES") == "1":
        REFERENCE_DIR.mkdir(exist_ok=True)
        Image.fromarray(img).save(ref_path)
        return
    if not ref_path.exists():
        pytest.fail(f"reference image {ref_path} is missing: create it with "
                    "BIOMECH_UPDATE_REFERENCE_IMAGES=1, look at it, commit it")
    ref = read_png(ref_path)
    assert img.shape == ref.shape, f"{name}: picture {img.shape} vs reference {ref.shape}"
    changed, mask = image_difference(img, ref)
    if changed > REFERENCE_MAX_CHANGED:
        Image.fromarray(img).save(tmp_path / f"{name}_actual.png")
        Image.fromarray(np.where(mask, 0, 255).astype(np.uint8)).save(tmp_path / f"{name}_diff.png")
        pytest.fail(f"{name}: {changed:.3%} of pixels unmatched within 1 px and "
                    f"{REFERENCE_PIXEL_TOLERANCE} grey levels "
                    f"(allowed {REFERENCE_MAX_CHANGED:.1%}); "
                    f"actual picture and unmatched-pixel mask in {tmp_path}")


def label_pixel_fraction(img: np.ndarray, label: int) -> float:
    """Fraction of the picture's pixels drawn in ``label``'s colour under shading.

    Lighting scales a surface colour by a factor (ambient 0.55 + diffuse 0.5 cos,
    one white headlight), so a pixel belongs to the label when its RGB direction
    is closest to that label's colour among all labels (cosine > 0.998) and its
    brightness is 0.45-1.1 times the colour's."""
    from biomech.viz.colours import LABEL_STYLE, hex_to_rgb
    labels = list(LABEL_STYLE)
    cols = np.array([hex_to_rgb(LABEL_STYLE[k][0]) for k in labels], float)
    unit = cols / np.linalg.norm(cols, axis=1, keepdims=True)
    px = img.reshape(-1, 3).astype(float)
    norm = np.linalg.norm(px, axis=1)
    cos = (px @ unit.T) / np.maximum(norm, 1e-9)[:, None]
    best = cos.argmax(axis=1)
    k = labels.index(L(label))
    ratio = norm / np.linalg.norm(cols[k])
    hit = (best == k) & (cos[:, k] > 0.998) & (ratio > 0.45) & (ratio < 1.1)
    return float(hit.mean())


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def renderer():
    """Skip, with the reason, where no off-screen renderer can start."""
    pytest.importorskip("pyvista", reason="pyvista is not installed (pip install 'biomech[viz]')")
    from biomech.viz.offscreen import renderer_status
    ok, reason = renderer_status()
    if not ok:
        pytest.skip(reason)
    return reason


@pytest.fixture(scope="module")
def vp_model():
    return synthetic_segment(treatment="vertebroplasty")


@pytest.fixture(scope="module")
def kp_model():
    return synthetic_segment(treatment="kyphoplasty")


@pytest.fixture(scope="module")
def vp_case(vp_model):
    return synthetic_case(vp_model)


# ---------------------------------------------------------------------------- pictures
def test_model_cutaway_matches_reference_and_shows_cement(renderer, vp_model, tmp_path):
    """The cut-away of a vertebroplasty case shows the composite through the cut;
    the same picture of the untreated case shows none (so the check can fail)."""
    from biomech.viz.pictures import picture_model
    img = picture_model(vp_model, window_size=SMALL, filename=tmp_path / "m.png")
    assert (tmp_path / "m.png").stat().st_size > 1000
    assert img.shape == (SMALL[1], SMALL[0], 3)
    assert_matches_reference(img, "model_cutaway_vertebroplasty", tmp_path)
    # cement visible: > 0.2 % of the pixels in the composite colour (measured 0.55 %
    # at 480x320); the untreated picture has < 0.02 % (measured 0; only anti-aliased
    # edges could ever match)
    assert label_pixel_fraction(img, L.COMPOSITE) > 0.002
    untreated = picture_model(synthetic_segment(treatment=None), window_size=SMALL)
    assert label_pixel_fraction(untreated, L.COMPOSITE) < 0.0002
    # the reference comparison is sensitive: the untreated picture fails it
    # (measured 1.5 % unmatched pixels against the 0.2 % allowed)
    changed, _ = image_difference(untreated, img)
    assert changed > 3 * REFERENCE_MAX_CHANGED


def test_cement_picture_matches_reference_shows_cement_and_leaks(renderer, vp_model, kp_model,
                                                                 tmp_path):
    from biomech.viz.pictures import picture_cement
    img = picture_cement(vp_model, window_size=SMALL)
    assert_matches_reference(img, "cement_vertebroplasty", tmp_path)
    assert label_pixel_fraction(img, L.COMPOSITE) > 0.005        # measured 1.5 %
    assert label_pixel_fraction(img, L.LEAKED_CEMENT) > 0.0005   # measured 0.96 %
    kp = picture_cement(kp_model, views=("axial",), window_size=SMALL)
    assert label_pixel_fraction(kp, L.CEMENT) > 0.005            # measured 2.5 %
    assert label_pixel_fraction(kp, L.COMPOSITE) < 0.0005        # kyphoplasty: bulk cement only


def test_field_sections_match_reference(renderer, vp_case, tmp_path):
    from biomech.viz.pictures import picture_fields
    img = picture_fields(vp_case, window_size=(720, 420))
    assert_matches_reference(img, "fields_vertebroplasty", tmp_path)


def test_compare_fields_matches_reference(renderer, vp_case, kp_model, tmp_path):
    from biomech.viz.pictures import compare_fields
    cases = {"vertebroplasty": vp_case, "kyphoplasty": synthetic_case(kp_model, 1.3)}
    img = compare_fields(cases, "von_mises_MPa", plane="frontal", window_size=(560, 320))
    assert_matches_reference(img, "compare_von_mises_frontal", tmp_path)


def _panels(img, n):
    """The picture part of each of the n case panels of a comparison (the caption
    column on the left, the titles on top and the colour bar below cut off)."""
    from biomech.viz.pictures import caption_column_px
    h, w, _ = img.shape
    top, bottom = int(0.12 * h), int(0.72 * h)
    left = caption_column_px((w, h))
    step = (w - left) / n
    width = int(step) - 8
    return [img[top:bottom, int(left + j * step) + 4:int(left + j * step) + 4 + width]
            for j in range(n)]


def _equal_up_to_pixel_shift(a, b, shift: int = 2) -> bool:
    """a equals b exactly, after b is moved by at most ``shift`` pixels sideways
    (panel viewports are rounded to whole pixels)."""
    core = a[:, shift:-shift]
    return any(np.array_equal(core, b[:, shift + s:b.shape[1] - shift + s])
               for s in range(-shift, shift + 1))


def test_comparison_shares_camera_and_colour_range(renderer, vp_case):
    """Same case twice: both panels identical (one camera).  The case against itself
    with every field doubled: panels differ (one colour range; separate ranges would
    draw the doubled case exactly like the original)."""
    from biomech.viz.pictures import CaseFields, compare_fields
    doubled = CaseFields(vp_case.model, vp_case.mesh,
                         {k: 2 * v for k, v in vp_case.cell_fields.items()},
                         vp_case.point_fields)
    from biomech.viz.pictures import caption_column_px
    size = (640, 300)
    while (size[0] - caption_column_px(size)) % 2:    # panels must start on whole pixels
        size = (size[0] + 1, size[1])
    same = compare_fields({"a": vp_case, "b": vp_case}, "von_mises_MPa", window_size=size)
    a, b = _panels(same, 2)
    assert _equal_up_to_pixel_shift(a, b)  # exact: same camera, same data, same range
    twice = compare_fields({"a": vp_case, "b": doubled}, "von_mises_MPa", window_size=size)
    a2, b2 = _panels(twice, 2)
    changed, _ = image_difference(a2, b2)
    assert changed > 0.05                  # measured 0.24 of the panel


def test_models_side_by_side(renderer, vp_model, kp_model):
    from biomech.viz.pictures import compare_models
    img = compare_models({"VP": vp_model, "KP": kp_model}, kind="cutaway", window_size=(600, 300))
    # measured 0.20 %, 0.28 %, 0.24 % of the picture; 0 for a label that is not drawn
    assert label_pixel_fraction(img, L.COMPOSITE) > 0.001
    assert label_pixel_fraction(img, L.CEMENT) > 0.001
    assert label_pixel_fraction(img, L.COMPACTED) > 0.0005


def test_picture_inputs_are_checked(renderer, vp_case, vp_model):
    from biomech.viz.pictures import compare_fields, picture_cement, picture_fields, picture_model
    with pytest.raises(InputError, match="cut must be"):
        picture_model(vp_model, cut="diagonal", window_size=SMALL)
    with pytest.raises(InputError, match="views must be"):
        picture_cement(vp_model, views=("side",), window_size=SMALL)
    with pytest.raises(InputError, match="no field 'pressure_MPa'"):
        picture_fields(vp_case, fields=("pressure_MPa",), window_size=SMALL)
    with pytest.raises(InputError, match="planes must be"):
        compare_fields({"a": vp_case}, "von_mises_MPa", plane="axial", window_size=SMALL)


def test_field_range_policies():
    from biomech.viz.pictures import field_range
    v = np.linspace(-1.0, 3.0, 401)
    # 99th percentile of linspace(-1, 3, 401) is 2.96 (numpy's linear interpolation)
    assert field_range([v], "von_mises_MPa") == pytest.approx((0.0, 2.96), abs=1e-12)
    assert field_range([v], "min_principal_strain") == pytest.approx((-0.96, 0.0), abs=1e-12)
    assert field_range([v], "displacement_mm") == pytest.approx((0.0, 3.0), abs=1e-12)
    assert field_range([v[:10], v[10:]], "von_mises_MPa") == field_range([v], "von_mises_MPa")
    with pytest.raises(InputError, match="clim"):
        field_range([v], "von_mises_MPa", clim=(1.0, 1.0))


def test_colour_range_over_bone_ignores_the_soft_disc(vp_case):
    """The default range comes from bone elements, so the disc's large strains do
    not set it."""
    eps_all = vp_case.values("min_principal_strain")[0]
    eps_bone = vp_case.range_values("min_principal_strain")
    lab = vp_case.model.labels[tuple(vp_case.mesh.voxel_ijk.T)]
    assert eps_bone.size == np.isin(lab, [int(v) for v in (L.CORTICAL, L.CANCELLOUS, L.ENDPLATE,
                                                          L.POSTERIOR, L.COMPOSITE, L.COMPACTED,
                                                          L.LYTIC)]).sum()
    assert eps_bone.min() > eps_all.min()


# ---------------------------------------------------------------------------- ParaView files
def test_vtu_round_trip_through_meshio(vp_case, tmp_path):
    """VTU of hexahedra (VTK type 12) read back by meshio: same cells, fields exact
    (binary float64: round trip is bit-exact)."""
    import meshio
    from biomech.viz.export import write_vtu
    path = write_vtu(tmp_path / "case.vtu", vp_case.mesh, cell_fields=vp_case.cell_fields,
                     point_fields=vp_case.point_fields, model=vp_case.model)
    m = meshio.read(path)
    assert [b.type for b in m.cells] == ["hexahedron"]
    np.testing.assert_array_equal(m.cells[0].data, vp_case.mesh.cells)
    names = set(m.cell_data)
    assert {"label", "level", "E_MPa", "von_mises_MPa", "min_principal_strain",
            "strain_energy_density_MPa"} <= names
    lab = vp_case.model.labels[tuple(vp_case.mesh.voxel_ijk.T)]
    np.testing.assert_array_equal(m.cell_data["label"][0], lab)
    np.testing.assert_array_equal(m.cell_data["von_mises_MPa"][0],
                                  vp_case.cell_fields["von_mises_MPa"])
    np.testing.assert_array_equal(m.point_data["displacement_mm"],
                                  vp_case.point_fields["displacement_mm"])


def test_pvd_collection_opens_every_case(vp_case, kp_model, tmp_path):
    pv = pytest.importorskip("pyvista", reason="pyvista is not installed")
    from biomech.viz.export import write_case_files, write_pvd
    kp = synthetic_case(kp_model)
    vp_files = write_case_files(tmp_path / "vp", vp_case, "vp", vti=False)
    kp_files = write_case_files(tmp_path / "kp", kp, "kp", vti=False)
    pvd = write_pvd(tmp_path / "study.pvd", {"vertebroplasty": vp_files["vtu"],
                                             "kyphoplasty": kp_files["vtu"]})
    assert 'file="vp/vp.vtu"' in pvd.read_text()
    blocks = pv.read(pvd)
    assert blocks.n_blocks == 2
    assert blocks[0].n_cells == vp_case.mesh.n_elements
    assert blocks[1].n_cells == kp.mesh.n_elements
    with pytest.raises(InputError, match="does not exist"):
        write_pvd(tmp_path / "bad.pvd", {"x": tmp_path / "missing.vtu"})


def test_field_names_must_carry_units(vp_case, tmp_path):
    from biomech.viz.export import write_vtu
    with pytest.raises(InputError, match="does not say its unit"):
        write_vtu(tmp_path / "bad.vtu", vp_case.mesh,
                  cell_fields={"stress": vp_case.cell_fields["von_mises_MPa"]})
    with pytest.raises(InputError, match="must end in .vtu"):
        write_vtu(tmp_path / "bad.vtk", vp_case.mesh)


def test_vti_holds_grid_and_results(renderer, vp_case, tmp_path):
    import pyvista as pv
    from biomech.viz.export import write_vti
    model, mesh = vp_case.model, vp_case.mesh
    path = write_vti(tmp_path / "case.vti", model, mesh=mesh, cell_fields=vp_case.cell_fields,
                     point_fields=vp_case.point_fields)
    img = pv.read(path)
    np.testing.assert_array_equal(img.cell_data["label"], model.labels.ravel(order="F"))
    vm = np.asarray(img.cell_data["von_mises_MPa"]).reshape(model.shape, order="F")
    i, j, k = mesh.voxel_ijk[17]
    assert vm[i, j, k] == vp_case.cell_fields["von_mises_MPa"][17]     # exact copy
    assert np.isnan(vm[model.labels == 0]).all()
    nx, ny, nz = model.shape
    disp = np.asarray(img.point_data["displacement_mm"]).reshape((nx + 1, ny + 1, nz + 1, 3),
                                                                  order="F")
    a, b, c = mesh.node_ijk[123]
    np.testing.assert_array_equal(disp[a, b, c], vp_case.point_fields["displacement_mm"][123])
    assert int(np.asarray(img.point_data["in_model"]).sum()) == mesh.n_nodes
    assert list(img.field_data["level_names"]) == ["L1", "L1-L2", "L2"]


# ---------------------------------------------------------------------------- viewer
def test_view_without_display_says_what_to_do(vp_case, tmp_path, monkeypatch, capsys):
    from biomech.viz.export import write_vtu
    from biomech.viz.view import NoDisplayError, main, view
    path = write_vtu(tmp_path / "case" / "case.vtu", vp_case.mesh,
                     cell_fields=vp_case.cell_fields, model=vp_case.model)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    with pytest.raises(NoDisplayError, match="--screenshot"):
        view(path)
    assert main([str(tmp_path / "case")]) == 2            # a case folder works too
    err = capsys.readouterr().err
    assert "DISPLAY" in err and "ParaView" in err
    assert main([str(tmp_path / "nothing.vtu")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_view_screenshot_off_screen(renderer, vp_case, tmp_path):
    from biomech.viz.export import write_vtu
    from biomech.viz.view import main
    path = write_vtu(tmp_path / "case.vtu", vp_case.mesh, cell_fields=vp_case.cell_fields,
                     model=vp_case.model)
    out = tmp_path / "view.png"
    assert main([str(path), "--screenshot", str(out), "--field", "von_mises_MPa"]) == 0
    img = read_png(out)
    assert (img.reshape(-1, 3) != 255).any(axis=1).mean() > 0.05   # something was drawn
    assert main([str(path), "--screenshot", str(out)]) == 0          # labels in colour
    img = read_png(out)
    assert label_pixel_fraction(img, L.CORTICAL) > 0.01          # the outside is cortex
    assert main([str(path), "--field", "pressure_MPa", "--screenshot", str(out)]) == 2


def test_view_study_folder_shows_every_case(renderer, vp_case, kp_model, tmp_path):
    """A study folder (its cases.pvd) opens: every case side by side, named."""
    from biomech.viz.export import write_pvd, write_vti
    from biomech.viz.view import main, read_collection, resolve_result
    a = write_vti(tmp_path / "cases" / "vp" / "vp.vti", vp_case.model)
    b = write_vti(tmp_path / "cases" / "kp" / "kp.vti", kp_model)
    write_pvd(tmp_path / "cases.pvd", {"vp": a, "kp": b})
    assert resolve_result(tmp_path).name == "cases.pvd"
    assert [n for n, _ in read_collection(tmp_path / "cases.pvd")] == ["vp", "kp"]
    out = tmp_path / "study.png"
    assert main([str(tmp_path), "--screenshot", str(out)]) == 0
    img = read_png(out)
    assert label_pixel_fraction(img, L.CORTICAL) > 0.01


# ---------------------------------------------------------------------------- lazy import
def test_biomech_imports_without_pyvista():
    """`import biomech` and `import biomech.viz.*` work with pyvista unavailable; a
    picture then raises a clear error naming the install command."""
    code = (
        "import sys; sys.modules['pyvista'] = None\n"
        "import biomech, biomech.viz\n"
        "from biomech.viz import pictures, plots, report, export, view, colours\n"
        "assert 'vtk' not in sys.modules\n"
        "from biomech.viz.offscreen import VizDependencyError\n"
        "import numpy as np\n"
        "from biomech.meshes.voxel_model import VoxelModel\n"
        "m = VoxelModel(np.ones((2, 2, 2), np.uint8), 1.0)\n"
        "try:\n"
        "    pictures.picture_model(m)\n"
        "except VizDependencyError as e:\n"
        "    assert \"pip install 'biomech[viz]'\" in str(e), e\n"
        "else:\n"
        "    raise SystemExit('no error')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_fields_of_an_unstructured_mesh_without_model(renderer, vp_case):
    """A case without a voxel model (a mesh from another tool) still gets sections,
    cut through the middle of its nodes' box."""
    from biomech import Mesh
    from biomech.viz.pictures import CaseFields, picture_fields
    mesh = Mesh(vp_case.mesh.points, vp_case.mesh.cells, "hex8")
    case = CaseFields(None, mesh, vp_case.cell_fields, vp_case.point_fields)
    img = picture_fields(case, fields=("von_mises_MPa",), window_size=SMALL)
    drawn = (img.reshape(-1, 3) != 255).any(axis=1).mean()
    assert drawn > 0.1                      # measured ~0.3 of the picture is not background


def test_leak_sites_come_from_the_treatments_field(vp_model):
    """Leaked voxels carrying the treatments' ``cement_leak_site`` codes are named by
    site; treatments and viz read one table, biomech.meshes.labels.LEAK_SITE_NAMES
    (viz sits below the treatments and does not import them)."""
    from biomech.meshes.labels import LEAK_SITE_NAMES
    from biomech.viz import cement_view as P
    leakage = pytest.importorskip("biomech.treatments.leakage",
                                  reason="the treatments layer is not available")
    assert leakage.SITE_NAMES is LEAK_SITE_NAMES
    leak = vp_model.mask(L.LEAKED_CEMENT)
    code = np.zeros(vp_model.shape)
    z = vp_model.centres()[..., 2]
    code[leak & (z > 35.0)] = int(leakage.LeakSite.SPINAL_CANAL)
    code[leak & (z <= 35.0)] = int(leakage.LeakSite.DISC)
    model = vp_model.with_field(P.LEAK_SITE_FIELD, code)
    sites = P.leak_site_masks(model)
    assert set(sites) == {"spinal canal", "disc"}
    assert sum(int(m.sum()) for m in sites.values()) == int(leak.sum())
    notes = P._cement_notes(model, P._leak_components(model, None))
    ml = model.h ** 3 / 1000.0
    assert f"  1  spinal canal: {sites['spinal canal'].sum() * ml:.3f} mL" in notes
    # without the field: one site per connected piece, largest first
    auto = P.leak_site_masks(vp_model)
    assert list(auto) == ["leak 1", "leak 2"]
    assert auto["leak 1"].sum() >= auto["leak 2"].sum()
