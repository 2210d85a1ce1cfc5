"""CT images (NIfTI, DICOM series) -> resampled, calibrated, labelled voxel models.

Coordinates: every image is put in DICOM patient coordinates LPS (x to the
patient's left, y posterior, z superior) in mm -- the axes of biomech's voxel
model.  NIfTI world coordinates (RAS) are converted by flipping x and y.

Pipeline: :func:`read_ct` (or :func:`read_nifti` / :func:`read_dicom_series`)
-> :func:`resample` to cubic voxels of side h on an LPS-aligned grid ->
:func:`model_from_ct` with a label map (or a threshold) and a calibration
(:mod:`biomech.meshes.calibration`): field ``density_g_cm3`` per bone voxel, cortical
and cancellous alike.  The model records the density-modulus law, the cap modulus and
the bone Poisson ratio in its ``meta``; the material rule
(:func:`biomech.materials.properties.element_properties`) turns them into (E, nu), as for every
other model kind.

DICOM: pydicom reads the series; compressed transfer syntaxes need a decoder
plugin: for JPEG 2000 (e.g. ../shared/data/totalseg-ct) ``pip install pylibjpeg
pylibjpeg-openjpeg``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from biomech.errors import InputError, MaterialError

from .calibration import InternalCalibration, LinearCalibration
from .labels import BONE_LABELS, Label
from .voxel_model import NO_LEVEL, VoxelModel

log = logging.getLogger(__name__)

#: Materials whose Poisson ratio ``bone_nu`` sets in a CT model.
CT_BONE_MATERIALS = ("cortical", "cancellous", "bony_endplate", "posterior_elements",
                     "fracture_zone", "angioma", "compacted_bone")

_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
UNITS = ("HU", "density_mg_cm3", "label")


@dataclass(frozen=True)
class CTImage:
    """values (i, j, k) float64; affine (4, 4): voxel index (centre) -> LPS mm;
    units: 'HU', 'density_mg_cm3' (already calibrated) or 'label'."""

    values: np.ndarray
    affine: np.ndarray
    units: str = "HU"
    source: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.units not in UNITS:
            raise InputError(f"CT units must be one of {UNITS}, got {self.units!r}")
        if np.asarray(self.values).ndim != 3:
            raise InputError(f"CT values must be 3-D, got shape {np.shape(self.values)}")
        A = np.asarray(self.affine, float)
        if A.shape != (4, 4) or abs(np.linalg.det(A[:3, :3])) < 1e-9:
            raise InputError("CT affine must be an invertible 4x4 matrix")

    @property
    def spacing(self) -> np.ndarray:
        """(3,) voxel spacing [mm]."""
        return np.linalg.norm(np.asarray(self.affine)[:3, :3], axis=0)


# ---------------------------------------------------------------------------- readers
#: Largest image or resampling grid accepted [voxels] (a lumbar CT at 0.3 mm is ~1e8),
#: and the bytes a voxel costs while a model is built from it (values, labels, fields).
MAX_IMAGE_VOXELS = 600_000_000
BYTES_PER_GRID_VOXEL = 48
#: Physical extent an image may have along an axis [mm] (a whole torso is < 1 m).
MAX_IMAGE_EXTENT_MM = 2000.0


def check_voxel_budget(n_voxels: int, bytes_per_voxel: int, what: str) -> None:
    """InputError before allocating ``n_voxels`` when they exceed MAX_IMAGE_VOXELS or
    the memory available (the estimate and the limit in the message)."""
    need = int(n_voxels) * int(bytes_per_voxel)
    if n_voxels > MAX_IMAGE_VOXELS:
        raise InputError(f"{what}: {n_voxels:,} voxels (about {need / 2**30:.1f} GiB) is more "
                         f"than the {MAX_IMAGE_VOXELS:,} allowed; use a coarser voxel size or "
                         "crop the image")
    from biomech.environment import available_memory_bytes
    avail = available_memory_bytes()
    if avail is not None and need > 0.8 * avail:
        raise InputError(f"{what}: needs about {need / 2**30:.1f} GiB ({n_voxels:,} voxels), "
                         f"more than 80 % of the {avail / 2**30:.1f} GiB of memory available; "
                         "use a coarser voxel size or crop the image")


def read_nifti(path, *, units: str = "HU") -> CTImage:
    """A NIfTI image (values as stored, scaled by the header slope) in LPS mm.

    Checked before the voxels are read: a regular file; a readable header with 3 finite,
    positive spacings, a finite affine with an orientation (qform or sform code > 0), a
    finite scaling; at most MAX_IMAGE_VOXELS voxels that fit in memory, and for an
    uncompressed file as many bytes as the header claims.  Every failure is an
    InputError naming the file."""
    import nibabel as nib
    from biomech.io.files import MAX_IMAGE_BYTES, check_input_file
    path = Path(path)
    st = check_input_file(path, what="NIfTI file", max_bytes=MAX_IMAGE_BYTES)   # InputError
    if st.st_size == 0:
        raise InputError(f"{path}: the NIfTI file is empty")
    try:
        img = nib.load(str(path))
        hdr = img.header
        shape = tuple(int(n) for n in img.shape)
        zooms = tuple(float(z) for z in hdr.get_zooms()[:3])
        affine = np.asarray(img.affine, float)
        slope, inter = hdr.get_slope_inter()
        xyzt = hdr.get_xyzt_units()[0]
        codes = (int(hdr["qform_code"]), int(hdr["sform_code"])) if "qform_code" in hdr else (1, 1)
        raw = (0.0, 0.0)
        if "scl_slope" in hdr:                 # the loaded header's scaling is reset: read the file's
            from nibabel.openers import ImageOpener
            with ImageOpener(str(path)) as fh:
                on_disk = type(hdr).from_fileobj(fh)
            raw = (float(on_disk["scl_slope"]), float(on_disk["scl_inter"]))
    except Exception as exc:                   # nibabel: ImageFileError, HeaderDataError, ...
        raise InputError(f"{path}: not a readable NIfTI file ({type(exc).__name__}: "
                         f"{str(exc)[:200]})") from None
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) != 3 or min(shape) < 1:
        raise InputError(f"{path}: a CT image must be 3-D, the header says shape {shape}")
    if len(zooms) < 3 or not all(np.isfinite(z) and z > 0 for z in zooms):
        raise InputError(f"{path}: voxel spacing must be 3 finite numbers > 0, got {zooms}")
    if not np.all(np.isfinite(affine)):
        raise InputError(f"{path}: the affine (orientation) holds NaN or infinite values")
    if max(codes) <= 0:
        raise InputError(f"{path}: the image has no orientation (qform_code and sform_code are "
                         "0), so it cannot be aligned with labels or loads; write it with an "
                         "affine (e.g. nibabel.Nifti1Image(data, affine))")
    # nibabel writes NaN, NaN for "no scaling" and then ignores any non-finite pair: refuse
    # a scaling that is half NaN or infinite instead of reading unscaled values silently
    if np.any(np.isinf(raw)) or np.isnan(raw[0]) != np.isnan(raw[1]) or any(
            v is not None and not np.isfinite(v) for v in (slope, inter)):
        raise InputError(f"{path}: the header's scaling (scl_slope, scl_inter) = {raw}; both "
                         "must be finite numbers (or both NaN for unscaled values)")
    scale = {"meter": 1000.0, "micron": 1e-3}.get(xyzt, 1.0)
    extent = np.array(shape[:3]) * np.array(zooms) * scale
    if np.any(extent > MAX_IMAGE_EXTENT_MM):
        raise InputError(f"{path}: the image is {np.round(extent, 1).tolist()} mm across (spacing "
                         f"{zooms} in {xyzt or 'unknown units'}); at most {MAX_IMAGE_EXTENT_MM:g} mm "
                         "per axis is accepted: check the units in the header (xyzt_units)")
    n = int(np.prod(shape, dtype=np.int64))
    check_voxel_budget(n, 8 + BYTES_PER_GRID_VOXEL, f"{path}")
    if not path.name.endswith(".gz"):
        need = int(hdr.get_data_offset()) + n * int(np.dtype(hdr.get_data_dtype()).itemsize)
        if need > st.st_size:
            raise InputError(f"{path}: the header claims {shape} voxels ({need:,} bytes) but the "
                             f"file holds {st.st_size:,} bytes (truncated?)")
    try:
        data = np.asarray(img.dataobj, dtype=np.float64)
    except Exception as exc:                   # truncated gzip, EOF, bad data
        raise InputError(f"{path}: the voxel data cannot be read ({type(exc).__name__}: "
                         f"{str(exc)[:200]}); is the file truncated?") from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    affine = _RAS_TO_LPS @ affine
    if scale != 1.0:
        affine = affine.copy()
        affine[:3] *= scale
    return CTImage(data, affine, units, str(path))


def read_dicom_series(folder, *, units: str = "HU") -> CTImage:
    """A DICOM CT series (one folder, one series) in HU and LPS mm."""
    import pydicom
    from biomech.io.files import FileReadError, folder_files
    folder = Path(folder)
    try:
        files = folder_files(folder, what="DICOM folder") if folder.is_dir() else []
    except FileReadError as exc:
        raise InputError(str(exc)) from None
    if not files:
        raise InputError(f"no DICOM files in {folder}")
    slices = []
    for f in files:
        try:
            ds = pydicom.dcmread(str(f))
        except Exception as exc:       # not DICOM: skip with a note
            log.info("skipping %s: %s", f, exc)
            continue
        if "ImagePositionPatient" in ds and "PixelData" in ds:
            slices.append((f, ds))
    if not slices:
        raise InputError(f"{folder} holds no DICOM image slices")
    for f, ds in slices:
        for tag in ("ImageOrientationPatient", "PixelSpacing", "Rows", "Columns"):
            if tag not in ds:
                raise InputError(f"{f}: the DICOM slice has no {tag}; a CT series needs it to "
                                 "place its voxels")
        try:
            iop_ = np.asarray(ds.ImageOrientationPatient, float)
            ps_ = np.asarray(ds.PixelSpacing, float)
            ipp_ = np.asarray(ds.ImagePositionPatient, float)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{f}: unreadable geometry tags ({exc})") from None
        if iop_.shape != (6,) or ps_.shape != (2,) or ipp_.shape != (3,) or not (
                np.all(np.isfinite(iop_)) and np.all(np.isfinite(ipp_)) and np.all(ps_ > 0)
                and np.all(np.isfinite(ps_))):
            raise InputError(f"{f}: ImageOrientationPatient (6 numbers), ImagePositionPatient "
                             f"(3) and PixelSpacing (2 numbers > 0) are required, got "
                             f"{iop_.tolist()}, {ipp_.tolist()}, {ps_.tolist()}")
    sizes = {(int(ds.Rows), int(ds.Columns)) for _, ds in slices}
    if len(sizes) > 1:
        raise InputError(f"{folder}: the slices have different sizes {sorted(sizes)}; give one "
                         "series per folder")
    rows_, cols_ = sizes.pop()
    check_voxel_budget(rows_ * cols_ * len(slices), 8 + BYTES_PER_GRID_VOXEL, str(folder))
    slices = [ds for _, ds in slices]
    uids = {getattr(s, "SeriesInstanceUID", None) for s in slices}
    if len(uids) > 1:
        raise InputError(f"{folder} holds {len(uids)} series; give one series per folder")
    iop = np.asarray(slices[0].ImageOrientationPatient, float)
    row, col = iop[:3], iop[3:]
    normal = np.cross(row, col)
    if not np.isclose(np.linalg.norm(normal), 1.0, atol=1e-3):
        raise InputError(f"{folder}: ImageOrientationPatient {iop.tolist()} is not two "
                         "orthogonal unit vectors")
    slices.sort(key=lambda s: float(np.dot(normal, np.asarray(s.ImagePositionPatient, float))))
    pos = np.array([np.asarray(s.ImagePositionPatient, float) for s in slices])
    steps = np.diff(pos @ normal)
    if len(slices) > 1 and (np.any(steps <= 0) or np.ptp(steps) > 0.01 * abs(steps.mean())):
        raise InputError(f"{folder}: slices are not evenly spaced (steps {np.unique(steps.round(3))} mm)")
    dz = float(steps.mean()) if len(slices) > 1 else float(getattr(slices[0], "SliceThickness", 1.0))
    try:
        frames = [s.pixel_array.astype(np.float64) * float(getattr(s, "RescaleSlope", 1.0))
                  + float(getattr(s, "RescaleIntercept", 0.0)) for s in slices]
    except Exception as exc:
        ts = getattr(slices[0].file_meta, "TransferSyntaxUID", "?")
        raise InputError(
            f"cannot decode the pixel data of {folder} (transfer syntax {ts} "
            f"{getattr(ts, 'name', '')}): {exc}. For JPEG 2000 install the decoder: "
            "pip install pylibjpeg pylibjpeg-openjpeg") from exc
    vol = np.stack(frames, axis=-1)            # (rows, cols, slices)
    dr, dc = (float(v) for v in slices[0].PixelSpacing)   # row spacing, column spacing
    # pixel_array[r, c]: r along the column direction (col cosines), c along the row direction
    A = np.eye(4)
    A[:3, 0] = col * dr
    A[:3, 1] = row * dc
    A[:3, 2] = normal * dz
    A[:3, 3] = pos[0]
    return CTImage(vol, A, units, str(folder), {"n_slices": len(slices)})


def read_ct(path, *, units: str = "HU") -> CTImage:
    """A NIfTI file (.nii, .nii.gz) or a folder holding one DICOM series."""
    path = Path(path)
    if path.is_dir():
        return read_dicom_series(path, units=units)
    if path.name.endswith((".nii", ".nii.gz")):
        return read_nifti(path, units=units)
    raise InputError(f"{path}: give a NIfTI file (.nii/.nii.gz) or a folder with one DICOM series")


# ---------------------------------------------------------------------------- resampling
@dataclass(frozen=True)
class Grid:
    """An LPS-aligned grid: origin = lower corner of voxel (0,0,0) [mm], h [mm], shape."""

    origin: np.ndarray
    h: float
    shape: tuple

    def centres(self) -> np.ndarray:
        ax = [self.origin[d] + (np.arange(n) + 0.5) * self.h for d, n in enumerate(self.shape)]
        return np.stack(np.meshgrid(*ax, indexing="ij"), axis=-1)


def grid_for_image(image: CTImage, h: float | None = None) -> Grid:
    """The LPS-aligned grid with spacing h [mm] (default: the finest image
    spacing) covering the image; its first centre is the image's lowest
    voxel-centre corner, so an axis-aligned image with spacing h maps 1:1."""
    sp = image.spacing
    h = float(sp.min()) if h is None else float(h)
    if not (np.isfinite(h) and 0.05 <= h <= 10.0):
        raise InputError(f"voxel size h must lie in [0.05, 10] mm, got {h!r}")
    n = np.array(image.values.shape)
    corners = np.array([[i, j, k] for i in (0, n[0] - 1) for j in (0, n[1] - 1) for k in (0, n[2] - 1)], float)
    w = corners @ np.asarray(image.affine)[:3, :3].T + np.asarray(image.affine)[:3, 3]
    lo, hi = w.min(axis=0), w.max(axis=0)
    if np.any(hi - lo > MAX_IMAGE_EXTENT_MM):
        raise InputError(f"{image.source or 'CT image'}: the image is "
                         f"{np.round(hi - lo, 1).tolist()} mm across; at most "
                         f"{MAX_IMAGE_EXTENT_MM:g} mm per axis is accepted (check its units)")
    shape = tuple(int(np.floor((hi[d] - lo[d]) / h + 1e-6)) + 1 for d in range(3))
    check_voxel_budget(int(np.prod(shape, dtype=np.int64)), BYTES_PER_GRID_VOXEL,
                       f"{image.source or 'CT image'} at {h:g} mm voxels")
    return Grid(lo - 0.5 * h, h, shape)


def resample(image: CTImage, grid: Grid, *, order: int | None = None) -> np.ndarray:
    """Values of ``image`` at the centres of ``grid``: linear interpolation
    (order 1) for intensities, after a box filter of width h/spacing when the
    grid is coarser than the image (no aliasing); nearest neighbour (order 0)
    for label maps.  Outside the image: -1024 HU, 0 density, label 0."""
    is_label = image.units == "label"
    order = (0 if is_label else 1) if order is None else order
    vals = np.asarray(image.values, float)
    if not is_label:
        ratio = grid.h / image.spacing
        if np.any(ratio > 1.5):
            vals = ndimage.uniform_filter(vals, size=np.maximum(1, np.rint(ratio)).astype(int),
                                          mode="nearest")
    A = np.asarray(image.affine, float)
    Ainv = np.linalg.inv(A)
    c = grid.centres().reshape(-1, 3)
    idx = c @ Ainv[:3, :3].T + Ainv[:3, 3]
    cval = {"HU": -1024.0, "density_mg_cm3": 0.0, "label": 0.0}[image.units]
    out = ndimage.map_coordinates(vals, idx.T, order=order, mode="constant", cval=cval,
                                  prefilter=False)
    return out.reshape(grid.shape)


# ---------------------------------------------------------------------------- label maps
def bonelab_label_map(level: str = "L2") -> dict:
    """Label map of the Bonelab spineFE benchmark segmentations (verse004):
    1 body trabecular, 2 body cortical, 3/4 posterior elements (inner /
    cortical), 5 inferior PMMA cap, 6 superior PMMA cap."""
    return {1: (Label.CANCELLOUS, level), 2: (Label.CORTICAL, level), 3: (Label.POSTERIOR, level),
            4: (Label.POSTERIOR, level), 5: (Label.PMMA_CAP, "cap_inferior"),
            6: (Label.PMMA_CAP, "cap_superior")}


#: TotalSegmentator 'total' task vertebra ids (as in ../shared/data/totalseg-ct).
TOTALSEGMENTATOR_VERTEBRAE = {27: "L5", 28: "L4", 29: "L3", 30: "L2", 31: "L1", 32: "T12", 33: "T11"}


def vertebra_label_map(ids: dict) -> dict:
    """{segmentation id: level} of whole-vertebra masks -> a label map whose
    bone is split into a one-voxel CORTICAL boundary layer and CANCELLOUS
    interior (no body/posterior split: the masks do not give one)."""
    return {int(k): ("vertebra", str(v)) for k, v in ids.items()}


# ---------------------------------------------------------------------------- models
def model_from_ct(ct: CTImage, labels: CTImage | None = None, *, h: float | None = None,
                  label_map: dict | None = None, levels=None, threshold: float | None = None,
                  threshold_level: str = "vertebra", calibration=None, law: str | None = None,
                  cap_modulus_MPa: float | None = None, bone_nu: float | None = 0.3,
                  pad_voxels: int = 1) -> VoxelModel:
    """A labelled voxel model from a CT and a label map (or a threshold).

    ct : CTImage in 'HU' or 'density_mg_cm3'; labels : CTImage of units 'label'
    on any grid (resampled by nearest neighbour);
    label_map : {segmentation value: (Label, level name)} or (``'vertebra'``,
        level) for whole-vertebra masks (see :func:`vertebra_label_map`);
    levels : keep only these level names (InputError if one is missing);
    threshold : without labels, bone = values >= threshold (HU or mg/cm^3),
        one level ``threshold_level``;
    calibration : LinearCalibration / InternalCalibration (HU -> mg/cm^3);
        required when ct is in HU and a law is given;
    law : density-modulus law name (:data:`biomech.materials.density_laws.DENSITY_LAWS`) recorded as
        ``meta["density_law"]`` (the registry's default law when None);
    cap_modulus_MPa : E of the PMMA caps [MPa], recorded in ``meta["material_overrides"]``
        (the registry's ``pmma_cap`` when None; the verse004 benchmark uses 2500);
    bone_nu : Poisson ratio of every bone material [-] (0.3 as the Bonelab spineFE
        benchmark and common QCT-FE practice; the registry's values when None).
    Fields: ``density_g_cm3`` (0 outside bone; may be slightly negative in marrow-rich
    voxels of a calibrated scan); ``meta["bone_modulus"] = "density"`` when a density is
    known (every bone voxel then takes its modulus from the law).  The grid is cropped to
    the labelled voxels plus ``pad_voxels``."""
    if law is not None:
        if ct.units == "HU" and calibration is None:
            raise MaterialError(
                f"law {law!r} needs an equivalent density but the CT is in HU and no "
                "calibration was given: pass calibration=LinearCalibration(slope, intercept) "
                "(phantom) or read_calibration_file(...)")
    if calibration is not None and not isinstance(calibration, (LinearCalibration, InternalCalibration)):
        raise InputError("calibration must be a LinearCalibration or an InternalCalibration")
    if ct.units == "label":
        raise InputError("ct must hold intensities (HU or density), not labels")
    grid = grid_for_image(ct, h)
    values = resample(ct, grid)
    lab = np.zeros(grid.shape, np.uint8)
    lev = np.full(grid.shape, NO_LEVEL, np.int8)
    names: list[str] = []
    if labels is not None:
        if labels.units != "label":
            raise InputError("labels must be a CTImage with units='label'")
        if label_map is None:
            raise InputError("give label_map={value: (Label, level)} for the label image")
        seg = np.rint(resample(labels, grid)).astype(np.int64)
        present = set(np.unique(seg).tolist()) - {0}
        wanted = {k: v for k, v in label_map.items()
                  if levels is None or v[1] in levels}
        if levels is not None:
            missing = set(levels) - {v[1] for k, v in wanted.items() if k in present}
            if missing:
                raise InputError(f"levels {sorted(missing)} are not in the label image; values "
                                 f"present: {sorted(present)}")
        if not set(wanted) & present:
            raise InputError(f"none of the label values {sorted(wanted)} occurs in the label "
                             f"image (values present: {sorted(present)})")
        for value, (label, level) in wanted.items():
            sel = seg == value
            if not sel.any():
                continue
            if level not in names:
                names.append(level)
            li = names.index(level)
            if label == "vertebra":
                interior = ndimage.binary_erosion(sel)
                lab[sel & ~interior] = Label.CORTICAL
                lab[interior] = Label.CANCELLOUS
            else:
                lab[sel] = Label(label)
            lev[sel] = li
    elif threshold is not None:
        sel = values >= float(threshold)
        if not sel.any():
            raise InputError(f"no voxel reaches the threshold {threshold} {ct.units}")
        sel = _largest_component(sel)
        interior = ndimage.binary_erosion(sel)
        lab[sel & ~interior] = Label.CORTICAL
        lab[interior] = Label.CANCELLOUS
        lev[sel] = 0
        names = [threshold_level]
    else:
        raise InputError("give a label image (labels=..., label_map=...) or a threshold")
    if not (lab != Label.VOID).any():
        raise InputError("the label map selects no voxel: empty mask")
    # crop
    nz = np.argwhere(lab != Label.VOID)
    lo = np.maximum(nz.min(axis=0) - pad_voxels, 0)
    hi = np.minimum(nz.max(axis=0) + 1 + pad_voxels, grid.shape)
    sl = tuple(slice(a, b) for a, b in zip(lo, hi))
    lab, lev, values = lab[sl], lev[sl], values[sl]
    origin = grid.origin + lo * grid.h
    # density
    if ct.units == "density_mg_cm3":
        rho_mg = values
    elif calibration is not None:
        rho_mg = calibration.density_mg_cm3(values)
    else:
        rho_mg = None
    fields = {}
    bone = np.isin(lab, [int(b) for b in BONE_LABELS])
    if rho_mg is not None:
        fields["density_g_cm3"] = np.where(bone, 1e-3 * rho_mg, 0.0)
    overrides = {}
    if cap_modulus_MPa is not None:
        overrides["pmma_cap"] = {"E_MPa": float(cap_modulus_MPa)}
    if bone_nu is not None:
        overrides.update({name: {"nu": float(bone_nu)} for name in CT_BONE_MATERIALS})
    meta = {"builder": "biomech.meshes.ct.model_from_ct", "source": ct.source,
            "voxel_size_mm": grid.h, "image_spacing_mm": ct.spacing.tolist(), "ct_units": ct.units,
            "calibration": repr(calibration) if calibration is not None else None,
            "material_overrides": overrides,
            "axes": "LPS: x +left, y +posterior, z +cranial (mm)"}
    if law is not None:
        meta["density_law"] = law
    if rho_mg is not None:
        meta["bone_modulus"] = "density"
    return VoxelModel(lab, grid.h, tuple(origin), lev, tuple(names), fields, meta)


def _largest_component(mask):
    lab, n = ndimage.label(mask)
    if n <= 1:
        return mask
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return lab == int(np.argmax(sizes))
