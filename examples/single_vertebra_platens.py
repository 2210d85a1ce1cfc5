"""Single vertebra between platens
===============================

A single vertebral body compressed between platens through PMMA end caps, as in
cadaver tests: axial stiffness of an L2 body against trabecular vBMD.

Shows the Python API below the study layer: build the anatomy
(:func:`biomech.meshes.vertebra.build_vertebral_body_with_caps`), set the bone quality
(:class:`biomech.conditions.BoneDensity`), solve with
:class:`biomech.analysis.SegmentAnalysis` (inferior cap fixed, superior cap tied to a
rigid platen carrying 500 N) and read the metrics and fields.

For comparison: the published linear voxel-FE stiffness of the CT-based L2 of
VerSe sub-verse004 (vBMD 70.7 mg/cm^3, 1 mm voxels, PMMA caps) is 12 362 N/mm
(Walle, Matheson & Boyd, spineFE benchmark; ../shared/data/bonelab-verse004/README.md).

Run:  python examples/single_vertebra_platens.py [--small]
"""
from __future__ import annotations

import sys
import warnings

from biomech.analysis import SegmentAnalysis
from biomech.conditions import BoneDensity, apply_condition
from biomech.loads import standard_load_case
from biomech.meshes.vertebra import build_vertebral_body_with_caps

#: Trabecular vBMD [mg/cm^3]: osteoporotic (< 80), osteopenic (80-120), normal (> 120)
#: by the ACR QCT categories.
VBMD_MG_CM3 = (50.0, 70.0, 100.0, 150.0)


def main(small: bool = False) -> dict:
    """Stiffness [N/mm] of the L2 body per vBMD; ``small`` uses 4 mm voxels (2 mm else)."""
    h = 4.0 if small else 2.0
    geometry = build_vertebral_body_with_caps("L2", h)
    compression = standard_load_case("compression")          # 500 N
    out = {}
    print(f"L2 vertebral body between PMMA caps, {h:g} mm voxels, 500 N compression")
    for vbmd in VBMD_MG_CM3:
        model = apply_condition(geometry, BoneDensity(vbmd))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            analysis = SegmentAnalysis(model, focus_level="L2")
            (res,) = analysis.run([compression])
        out[vbmd] = res.metrics["stiffness_N_per_mm"]
        print(f"  vBMD {vbmd:5.0f} mg/cm3: body stiffness {out[vbmd]:8.0f} N/mm, platen "
              f"stiffness {res.metrics['segment_stiffness_N_per_mm']:8.0f} N/mm, "
              f"peak von Mises {res.cell_fields['von_mises_MPa'].max():.2f} MPa "
              f"({analysis.n_dofs} DOF)")
    return out


if __name__ == "__main__":
    main(small="--small" in sys.argv)
