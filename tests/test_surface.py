"""Closed surfaces: reading, units, welding/repair, exact voxelisation, the
shipped Clouthier mean shape and surface-based vertebra and segment models."""
from __future__ import annotations

import numpy as np
import pytest

from biomech.errors import InputError, MeshError
from biomech.meshes import landmarks as LM
from biomech.meshes import real_vertebra as RV
from biomech.meshes.labels import Label
from biomech.meshes.morphometry import vertebra_morphometry
from biomech.meshes.surface import (SurfaceDistance, TriSurface, inside_mask, read_surface,
                                    read_surface_csv)

from .conftest import shared_file


def uv_sphere(radius=20.0, n_lat=40, n_lon=80, centre=(0.0, 0.0, 0.0)):
    """A closed triangulated sphere (outward faces)."""
    th = np.linspace(0, np.pi, n_lat + 1)[1:-1]
    ph = np.linspace(0, 2 * np.pi, n_lon, endpoint=False)
    T, P = np.meshgrid(th, ph, indexing="ij")
    v = np.stack([np.sin(T) * np.cos(P), np.sin(T) * np.sin(P), np.cos(T)], -1).reshape(-1, 3)
    v = np.vstack([[0, 0, 1.0], v, [0, 0, -1.0]]) * radius + np.asarray(centre)
    n_ring = n_lon
    faces = []
    for j in range(n_lon):
        faces.append([0, 1 + j, 1 + (j + 1) % n_lon])
    for i in range(n_lat - 2):
        for j in range(n_lon):
            a = 1 + i * n_ring + j
            b = 1 + i * n_ring + (j + 1) % n_lon
            c = a + n_ring
            d = b + n_ring
            faces += [[a, c, b], [b, c, d]]
    last = len(v) - 1
    base = 1 + (n_lat - 2) * n_ring
    for j in range(n_lon):
        faces.append([last, base + (j + 1) % n_lon, base + j])
    return TriSurface(v, np.array(faces))


def test_sphere_inside_and_distance():
    s = uv_sphere(20.0).repaired()
    assert s.is_closed()
    h = 0.5
    n = int(44 / h)
    inside = inside_mask(s, (-22.0, -22.0, -22.0), h, (n, n, n))
    # voxel volume vs the polyhedron's exact volume: within 1 % (centre rule, h/R = 1/40)
    assert inside.sum() * h ** 3 == pytest.approx(s.signed_volume(), rel=0.01)
    pts = np.random.default_rng(0).uniform(-25, 25, (2000, 3))
    d, _ = SurfaceDistance(s)(pts)
    r = np.linalg.norm(pts, axis=1)
    # faceting: flat triangles spanning pi/40 of arc sit up to R (1 - cos(pi/40)) = 0.062 mm
    # inside the sphere -> tolerance 0.062 mm; a wrong nearest triangle would miss by mm
    assert np.allclose(d, np.abs(r - 20.0), atol=20.0 * (1 - np.cos(np.pi / 40)))


def test_open_surface_is_refused():
    s = uv_sphere(20.0)
    holed = TriSurface(s.vertices, s.faces[5:])
    with pytest.raises(MeshError, match="boundary edges"):
        holed.repaired()


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_units_are_detected_or_refused(tmp_path):
    s = uv_sphere(20.0)                                   # 40 mm across
    import meshio
    path = tmp_path / "sphere_m.stl"
    meshio.write(str(path), meshio.Mesh(s.vertices / 1000.0, [("triangle", s.faces)]))
    back = read_surface(path)                             # auto: metres
    assert np.ptp(back.vertices[:, 0]) == pytest.approx(40.0, rel=1e-6)
    with pytest.raises(InputError, match="1000 times too small"):
        read_surface(path, units="mm")
    with pytest.raises(InputError, match="units"):
        read_surface(path, units="furlong")
    ply = tmp_path / "sphere.ply"
    meshio.write(str(ply), meshio.Mesh(s.vertices, [("triangle", s.faces)]))
    assert read_surface(ply, units="mm").signed_volume() == pytest.approx(s.signed_volume())
    with pytest.raises(InputError, match="too large"):
        read_surface(ply, units="m")                      # a 40 m vertebra


def test_shipped_clouthier_equals_the_published_csv(shared_data):
    """Shipped .npz (float32) vs the MIT-licensed CSV: same faces, vertices within
    1e-5 mm (float32 rounding of coordinates below 100 mm)."""
    d = shared_data / "clouthier-lumbar-ssm"
    csv = read_surface_csv(d / "meanMesh_vertices.csv", d / "meanMesh_faces.csv", repair=False)
    with np.load(RV.CLOUTHIER_FILE) as z:
        assert np.array_equal(z["faces"], csv.faces)
        assert np.abs(z["vertices"] - csv.vertices).max() < 1e-5
    assert (RV.DATA / "LICENSE-clouthier").is_file()
    # four closed vertebrae of ~62 cm^3 (README: 246 cm^3 in total), L2 on top
    surfs = RV.clouthier_mean_lumbar()
    assert list(surfs) == ["L2", "L3", "L4", "L5"]
    total = sum(s.signed_volume() for s in surfs.values())
    assert total == pytest.approx(246e3, rel=0.01)
    assert all(s.is_closed() for s in surfs.values())


def test_remus_body_needs_welding(shared_data):
    """remus-lss L1_body.obj (metres): open as stored (seam duplicates), closed
    after welding, 43.5 cm^3 (README, +-1 %)."""
    path = shared_file("remus-lss", "RB", "L1_body.obj")
    raw = read_surface(path, repair=False)
    assert raw.edge_counts()[0] > 0                     # 600-900 boundary edges as stored
    s = read_surface(path, weld_tol_mm=1e-6)
    assert s.is_closed()
    assert s.signed_volume() == pytest.approx(43.5e3, rel=0.01)


@pytest.fixture(scope="module")
def clouthier_l2():
    return RV.clouthier_vertebra("L2", 1.5)


def test_clouthier_vertebra_model(clouthier_l2):
    m = clouthier_l2
    present = set(np.unique(m.labels).tolist())
    assert {Label.CORTICAL, Label.CANCELLOUS, Label.ENDPLATE, Label.POSTERIOR} <= present
    vol = sum(v for v in m.volumes_mm3().values())
    surf = m.meta["surface_volume_mm3"]
    assert vol == pytest.approx(surf, rel=0.03)           # centre rule at h = 1.5 mm
    # shell volume ~ area x thickness: between 0.3 and 0.5 mm times the body area
    shell = (m.fields["cortical_fraction"].sum() + m.fields["endplate_fraction"].sum()) * m.h ** 3
    assert 1000.0 < shell < 4000.0
    # the posterior wall and the endplates are found from the labels alone
    assert LM.posterior_wall_mask(m, "L2").sum() > 50
    z = LM.endplate_z(m, "L2")
    assert 20.0 < z["superior"] - z["inferior"] < 35.0


def test_clouthier_l2_agrees_with_the_parametric_table(clouthier_l2):
    """Two independent sources for L2 (CT population mean vs the morphometry
    table): body width and mid-sagittal depth agree within 20 %."""
    m = clouthier_l2
    body = m.mask(Label.CORTICAL, Label.CANCELLOUS, Label.ENDPLATE)
    c = m.centres(np.argwhere(body))
    tab = vertebra_morphometry("L2")
    front = c[:, 1] < np.median(c[:, 1])        # the pedicle bases widen the back half
    width = np.ptp(c[front, 0]) + m.h
    assert width == pytest.approx(0.5 * (tab.superior_width + tab.inferior_width), rel=0.20)
    mid = np.abs(c[:, 0]) < m.h
    depth = np.ptp(c[mid, 1]) + m.h
    assert depth == pytest.approx(0.5 * (tab.superior_depth + tab.inferior_depth), rel=0.20)


def test_clouthier_segment_has_a_disc():
    m = RV.clouthier_segment(["L2", "L3"], 2.0)
    assert m.level_names == ("L2", "L2-L3", "L3")
    lab = m.labels[m.level == m.level_index("L2-L3")]
    share = np.mean(lab == Label.NUCLEUS) / np.mean(lab != Label.CARTILAGE_ENDPLATE)
    assert {Label.NUCLEUS, Label.ANNULUS, Label.CARTILAGE_ENDPLATE} <= set(np.unique(lab).tolist())
    assert 0.25 < share < 0.55                  # 40 % of the section, columns of unequal height
    with pytest.raises(InputError, match="L2-L5"):
        RV.clouthier_segment(["L1", "L2"], 2.0)


def test_auto_axes_finds_posterior(shared_data):
    """Auto orientation of the Clouthier L3 in its SSM axes: the canal is at -x
    in the SSM frame, so biomech +y must come out as SSM -x."""
    d = shared_data / "clouthier-lumbar-ssm"
    s = read_surface_csv(d / "meanMesh_vertices.csv", d / "meanMesh_faces.csv")
    l3 = sorted(s.components(), key=lambda c: -c.vertices[:, 2].mean())[1]
    R = RV.auto_axes(l3)
    assert R[1] @ np.array([-1.0, 0.0, 0.0]) > 0.95


def _uv_sphere(radius=10.0, n=16, push_cap=0.0):
    """A closed UV sphere (n latitude bands, 2n longitudes; outward normals); with
    ``push_cap`` the vertices above z = 0.4 R move down by push_cap * R (a fold)."""
    th = np.linspace(0, np.pi, n + 1)[1:-1]
    ph = np.linspace(0, 2 * np.pi, 2 * n, endpoint=False)
    T, P = np.meshgrid(th, ph, indexing="ij")
    v = np.stack([np.sin(T) * np.cos(P), np.sin(T) * np.sin(P), np.cos(T)], -1).reshape(-1, 3)
    v = np.vstack([[0, 0, 1], v, [0, 0, -1]]) * radius
    m = 2 * n
    idx = lambda i, j: 1 + i * m + (j % m)          # noqa: E731
    faces = [[0, idx(0, j), idx(0, j + 1)] for j in range(m)]
    for i in range(n - 2):
        for j in range(m):
            faces += [[idx(i, j), idx(i + 1, j), idx(i + 1, j + 1)],
                      [idx(i, j), idx(i + 1, j + 1), idx(i, j + 1)]]
    last = len(v) - 1
    faces += [[last, idx(n - 2, j + 1), idx(n - 2, j)] for j in range(m)]
    if push_cap:
        cap = v[:, 2] > 0.4 * radius
        v[cap, 2] -= push_cap * radius
    return TriSurface(v, np.array(faces), source="sphere")


def test_self_intersecting_surfaces_are_refused():
    """A closed sphere has no crossing triangles; pushing its top cap down through the
    bottom (by 1.6 R) makes the surface pass through itself: refused before voxelising,
    with the number of crossing pairs; the shipped Clouthier vertebrae have none."""
    from biomech.meshes.self_intersection import intersecting_triangle_pairs
    ok = _uv_sphere()
    assert ok.is_closed() and len(intersecting_triangle_pairs(ok.vertices, ok.faces)) == 0
    folded = _uv_sphere(push_cap=1.6)
    pairs = intersecting_triangle_pairs(folded.vertices, folded.faces)
    assert len(pairs) >= 4
    with pytest.raises(InputError, match="passes through itself.*crossing triangle pairs"):
        RV.vertebra_from_surface(folded, 2.0, axes=None)
    for s in RV.clouthier_mean_lumbar().values():
        assert len(intersecting_triangle_pairs(s.vertices, s.faces)) == 0
