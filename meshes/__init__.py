"""biomech.meshes: anatomy as labelled voxel models (parametric vertebrae, discs,
segments; surfaces and CT).  May import biomech.kernels and biomech.errors, never
the physics.

    from biomech.meshes import default_segment
    model = default_segment(h=1.0)       # parametric L1-L3 with discs, 1 mm voxels
"""
from . import landmarks  # noqa: F401
from .ct import model_from_ct, read_ct  # noqa: F401
from .calibration import InternalCalibration, LinearCalibration, read_calibration_file  # noqa: F401
from .labels import Label, label_name  # noqa: F401
from .morphometry import LEVELS, disc_morphometry, vertebra_morphometry  # noqa: F401
from .real_vertebra import clouthier_segment, clouthier_vertebra, vertebra_from_surface  # noqa: F401
from .segment import build_segment, default_segment  # noqa: F401
from .surface import read_surface, read_surface_csv  # noqa: F401
from .vertebra import build_vertebra, build_vertebral_body_with_caps  # noqa: F401
from .voxel_model import VoxelModel  # noqa: F401
