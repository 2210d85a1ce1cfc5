"""Issue 15, surfaces, images and calibration files: every broken file ends in a biomech
error naming the file (never sys.exit, a raw ValueError or a huge allocation)."""
from __future__ import annotations

import gzip
import random

import numpy as np
import pytest

from biomech.errors import BiomechError, InputError
from biomech.meshes import ct as C
from biomech.meshes.calibration import read_calibration_file
from biomech.meshes.surface import TriSurface, read_surface, read_surface_csv

SEED = 15


def _sphere(radius=20.0, n=12):
    """A closed triangulated sphere [mm] (latitude-longitude, poles shared)."""
    th = np.linspace(0, np.pi, n + 1)[1:-1]
    ph = np.linspace(0, 2 * np.pi, 2 * n, endpoint=False)
    pts = [[0, 0, radius]] + [[radius * np.sin(t) * np.cos(p), radius * np.sin(t) * np.sin(p),
                               radius * np.cos(t)] for t in th for p in ph] + [[0, 0, -radius]]
    m = len(ph)
    faces = [[0, 1 + j, 1 + (j + 1) % m] for j in range(m)]
    for i in range(len(th) - 1):
        for j in range(m):
            a, b = 1 + i * m + j, 1 + i * m + (j + 1) % m
            faces += [[a, a + m, b], [b, a + m, b + m]]
    last = len(pts) - 1
    base = 1 + (len(th) - 1) * m
    faces += [[base + j, last, base + (j + 1) % m] for j in range(m)]
    return np.array(pts, float), np.array(faces, np.int64)


FORMATS = ["vtk", "vtu", "ply", "off", "stl", "obj"]


@pytest.fixture(scope="module")
def surface_files(tmp_path_factory):
    import meshio
    d = tmp_path_factory.mktemp("surfaces")
    v, f = _sphere()
    out = {}
    for ext in FORMATS:
        p = d / f"sphere.{ext}"
        meshio.write(str(p), meshio.Mesh(v, [("triangle", f)]))
        out[ext] = p.read_bytes()
    return out


def _truncations(n_per_format=8):
    rng = random.Random(SEED)
    cases = []
    for ext in FORMATS:
        cases.append((ext, 0.0))
        cases += [(ext, round(rng.uniform(0.01, 0.95), 3)) for _ in range(n_per_format)]
    return cases


@pytest.mark.parametrize("ext, keep", _truncations())
def test_empty_or_truncated_surfaces_raise_a_biomech_error(tmp_path, surface_files, ext, keep):
    data = surface_files[ext]
    p = tmp_path / f"cut.{ext}"
    p.write_bytes(data[:int(len(data) * keep)])
    try:
        s = read_surface(p, units="mm")
    except BiomechError as exc:
        assert str(p) in str(exc) or p.name in str(exc)
    else:                                         # a cut that still parses as a closed surface
        assert isinstance(s, TriSurface) and s.is_closed()


def test_whole_surfaces_still_read(tmp_path, surface_files):
    for ext in FORMATS:
        p = tmp_path / f"ok.{ext}"
        p.write_bytes(surface_files[ext])
        s = read_surface(p, units="mm")
        assert abs(s.signed_volume()) == pytest.approx(4 / 3 * np.pi * 20.0 ** 3, rel=0.05)


def test_surface_far_from_the_origin_is_refused(tmp_path):
    v, f = _sphere()
    (tmp_path / "v.csv").write_text("\n".join(",".join(map(str, r)) for r in v + [1e9, 0, 0]))
    (tmp_path / "f.csv").write_text("\n".join(",".join(map(str, r)) for r in f))
    with pytest.raises(InputError, match="from the origin"):
        read_surface_csv(tmp_path / "v.csv", tmp_path / "f.csv", units="mm")


def test_disjoint_surfaces_are_not_one_vertebra():
    from biomech.meshes.real_vertebra import vertebra_from_surface
    v, f = _sphere()
    two = TriSurface(np.vstack([v, v + [60.0, 0, 0]]), np.vstack([f, f + len(v)]), "two.stl")
    with pytest.raises(InputError, match="2 disjoint pieces"):
        vertebra_from_surface(two, h=2.0)


def test_surface_voxel_budget_is_checked_before_allocating(monkeypatch):
    from biomech.meshes.real_vertebra import vertebra_from_surface
    v, f = _sphere(radius=200.0)
    monkeypatch.setattr(C, "MAX_IMAGE_VOXELS", 10_000_000)
    with pytest.raises(InputError, match="voxels .* allowed"):
        vertebra_from_surface(TriSurface(v, f, "big.stl"), h=0.5, axes=None)


CSV_BAD = ["", "1,2", "a,b,c\n1,2,3", "1,2,3\n4,5", "\xff\xfe,1,2", "nan,1,2\n1,2,3",
           "1e,2,3", "1.2.3,4,5", "-,1,2", "1,2,3,4"]


@pytest.mark.parametrize("text", CSV_BAD)
def test_bad_csv_surfaces_raise_a_biomech_error(tmp_path, text):
    v, f = _sphere()
    good_v = "\n".join(",".join(map(str, r)) for r in v)
    good_f = "\n".join(",".join(map(str, r)) for r in f)
    for vt, ft in ((text, good_f), (good_v, text)):
        (tmp_path / "v.csv").write_bytes(vt.encode("latin-1"))
        (tmp_path / "f.csv").write_bytes(ft.encode("latin-1"))
        with pytest.raises(BiomechError):
            read_surface_csv(tmp_path / "v.csv", tmp_path / "f.csv", units="mm")


# ----------------------------------------------------------------- NIfTI
def _nifti(path, shape=(6, 7, 8), **header):
    import nibabel as nib
    img = nib.Nifti1Image(np.arange(np.prod(shape), dtype=np.int16).reshape(shape),
                          np.diag([0.8, 0.8, 1.0, 1.0]))
    for k, v in header.items():
        img.header[k] = v
    if "scl_slope" in header:
        img.header.set_slope_inter(header["scl_slope"], 0.0)
    nib.save(img, str(path))
    return path


def test_good_nifti_still_reads(tmp_path):
    im = C.read_nifti(_nifti(tmp_path / "a.nii"))
    assert im.values.shape == (6, 7, 8) and im.spacing == pytest.approx([0.8, 0.8, 1.0])


def _nifti_mutants():
    rng = random.Random(SEED)
    cases = [("empty", None), ("no orientation", {"qform_code": 0, "sform_code": 0}),
             ("NaN affine", {"srow_x": [np.nan, 0, 0, 0], "qform_code": 0}),
             ("NaN scaling", {"scl_slope": np.nan, "scl_inter": 5.0}),
             ("infinite scaling", {"scl_slope": np.inf}),
             ("metre units", {"xyzt_units": 1, "pixdim": [1, 0.8, 0.8, 1.0, 1, 1, 1, 1]}),
             ("claims more voxels", {"dim": [3, 600, 600, 600, 1, 1, 1, 1]}),
             ("claims a huge image", {"dim": [3, 30000, 30000, 30000, 1, 1, 1, 1]})]
    cases += [(f"truncated {k:.2f}", k) for k in sorted(rng.uniform(0.05, 0.95) for _ in range(6))]
    return cases


@pytest.mark.parametrize("gz", [False, True], ids=["nii", "nii.gz"])
@pytest.mark.parametrize("label, mutation", _nifti_mutants(), ids=[m[0] for m in _nifti_mutants()])
def test_broken_nifti_raises_a_biomech_error(tmp_path, gz, label, mutation):
    p = tmp_path / ("ct.nii.gz" if gz else "ct.nii")
    if mutation is None:
        p.write_bytes(b"")
    elif isinstance(mutation, float):
        _nifti(p)
        data = p.read_bytes()
        p.write_bytes(data[:int(len(data) * mutation)])
    else:
        if True:                                  # raw header bytes: nibabel would fix them
            _nifti(tmp_path / "raw.nii")
            import nibabel as nib
            img = nib.load(str(tmp_path / "raw.nii"))
            hdr = img.header.copy()
            for k, v in mutation.items():
                hdr[k] = v
            if "srow_x" in mutation:
                hdr["sform_code"] = 2
            raw = bytearray(hdr.binaryblock) + (tmp_path / "raw.nii").read_bytes()[348:]
            p.write_bytes(gzip.compress(bytes(raw)) if gz else bytes(raw))
    with pytest.raises(BiomechError) as err:
        C.read_nifti(p)
    assert str(p) in str(err.value)


# ----------------------------------------------------------------- calibration logs
LOG = """Ogo internal calibration
                Energy [keV]:  97.000000
                      K2HPO4     0.205
                Triglyceride     0.170
                 HU-u/p Slope     0.000016
           HU-u/p Y-Intercept     0.171240
    HU-Material Density Slope     0.000893
  HU-Material Density Y-Intercept     0.968731
"""


@pytest.mark.parametrize("token", ["-", "1e", "1.2.3", "nan", "inf", "--1", "0x10", "1,5", "", "e5"])
@pytest.mark.parametrize("line", ["K2HPO4", "HU-u/p Slope"])
def test_bad_calibration_values_raise_input_error(tmp_path, token, line):
    p = tmp_path / "cal.txt"
    lines = [ln if not ln.strip().startswith(line + " ") else ln.split(line)[0] + line + "     " + token
             for ln in LOG.splitlines()]
    p.write_text("\n".join(lines))
    with pytest.raises(InputError, match="calibration file"):
        read_calibration_file(p)


@pytest.mark.parametrize("content", [b"", b"\x00\x01\x02" * 100, b"\xff\xfe" * 50])
def test_binary_or_empty_calibration_files_raise_input_error(tmp_path, content):
    p = tmp_path / "cal.txt"
    p.write_bytes(content)
    with pytest.raises(InputError, match="calibration file"):
        read_calibration_file(p)


def test_good_calibration_log_reads(tmp_path):
    p = tmp_path / "cal.txt"
    p.write_text(LOG)
    cal = read_calibration_file(p)
    assert cal.k2hpo4_mass_attenuation == 0.205 and cal.effective_energy_keV == 97.0


# ----------------------------------------------------------------- DICOM
def _dicom_series(folder, sizes=((8, 8),) * 3, drop=None):
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
    folder.mkdir(exist_ok=True)
    series = generate_uid()
    for k, (r, c) in enumerate(sizes):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.SeriesInstanceUID = series
        ds.Rows, ds.Columns = r, c
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
        ds.PixelRepresentation, ds.SamplesPerPixel = 1, 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.ImagePositionPatient = [0.0, 0.0, float(k)]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.PixelSpacing = [0.8, 0.8]
        ds.RescaleSlope, ds.RescaleIntercept = 1.0, -1024.0
        ds.PixelData = np.zeros((r, c), np.int16).tobytes()
        if drop and k == 1:
            delattr(ds, drop)
        pydicom.dcmwrite(str(folder / f"s{k:03d}.dcm"), ds, enforce_file_format=True)
    return folder


def test_good_dicom_series_reads(tmp_path):
    im = C.read_dicom_series(_dicom_series(tmp_path / "d"))
    assert im.values.shape == (8, 8, 3)


@pytest.mark.parametrize("label, kw, match", [
    ("mixed slice sizes", {"sizes": ((8, 8), (8, 9), (8, 8))}, "different sizes"),
    ("no PixelSpacing", {"drop": "PixelSpacing"}, "PixelSpacing"),
    ("no ImageOrientationPatient", {"drop": "ImageOrientationPatient"}, "ImageOrientationPatient"),
])
def test_broken_dicom_series_raise_input_error(tmp_path, label, kw, match):
    with pytest.raises(InputError, match=match):
        C.read_dicom_series(_dicom_series(tmp_path / "d", **kw))
