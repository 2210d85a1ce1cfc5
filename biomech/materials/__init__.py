"""Materials: what each tissue is made of and the one rule that turns a model into (E, nu).

=====================  =================================================================
module                 responsibility
=====================  =================================================================
``registry``           named tissue materials (E [MPa], nu [-], ranges, sources)
``density_laws``       density-modulus laws of trabecular bone, density conversions
``mixtures``           voxels holding several materials: shells, cement-bone composite
``properties``         :func:`~biomech.materials.properties.element_properties`, the only place fields become (E, nu)
``lame``               per-element Lame parameters for the solver (validated)
=====================  =================================================================
"""
from .density_laws import (DEFAULT_DENSITY_LAW, DENSITY_LAWS, MIN_MODULUS_MPA,  # noqa: F401
                           TISSUE_MINERAL_DENSITY_G_CM3, VERSE004_LAW, DensityModulusLaw,
                           get_law, modulus_from_qct, qct_to_measure)
from .mixtures import composite_modulus, partial_volume_modulus, shell_modulus  # noqa: F401
from .properties import (BONE_MODULUS_RULES, DENSITY_MAPPED_LABELS,  # noqa: F401
                         MIN_DENSITY_G_CM3, SHELL_LABELS, TRABECULAR_LAW_LABELS,
                         element_properties, model_registry)
from .registry import (LABEL_MATERIAL, Material, MaterialRegistry,  # noqa: F401
                       default_registry, validate_elastic)
