"""Voxel labels of the labelled voxel model (one uint8 per voxel).

The numbers are part of the file format (VTI/VTU cell data ``label``): never
renumber, only append.
"""
from __future__ import annotations

from enum import IntEnum


class Label(IntEnum):
    VOID = 0
    CORTICAL = 1            # cortical shell of the vertebral body
    CANCELLOUS = 2          # trabecular (cancellous) bone
    ENDPLATE = 3            # bony endplate
    CARTILAGE_ENDPLATE = 4
    POSTERIOR = 5           # posterior elements: pedicles, lamina, processes, facets
    NUCLEUS = 6             # nucleus pulposus
    ANNULUS = 7             # annulus fibrosus
    CEMENT = 8              # bulk cement (kyphoplasty cavity, leaked cement)
    COMPOSITE = 9           # cement-bone composite (vertebroplasty fill)
    COMPACTED = 10          # bone compacted by a kyphoplasty balloon
    LYTIC = 11              # lytic metastasis tissue
    BLASTIC = 12            # blastic (sclerotic) metastatic bone
    PMMA_CAP = 13           # PMMA end caps / platens of a cadaver test
    FRACTURE_ZONE = 14      # damaged trabecular bone of a compression fracture
    ANGIOMA = 15            # vertebral haemangioma
    LEAKED_CEMENT = 16      # cement outside the vertebral body (canal, disc, veins, paravertebral)


#: Labels that belong to a vertebra (bone and what replaces bone inside it).
BONE_LABELS = frozenset({Label.CORTICAL, Label.CANCELLOUS, Label.ENDPLATE, Label.POSTERIOR,
                         Label.COMPOSITE, Label.COMPACTED, Label.LYTIC, Label.BLASTIC,
                         Label.FRACTURE_ZONE, Label.ANGIOMA, Label.CEMENT})
#: Labels of an intervertebral disc.
DISC_LABELS = frozenset({Label.NUCLEUS, Label.ANNULUS, Label.CARTILAGE_ENDPLATE})
#: Trabecular compartment (where cement can flow and where bone-at-risk is measured).
TRABECULAR_LABELS = frozenset({Label.CANCELLOUS, Label.FRACTURE_ZONE, Label.LYTIC,
                               Label.ANGIOMA, Label.COMPACTED, Label.BLASTIC})


def label_name(value: int) -> str:
    """Lower-case name of a label number (e.g. 2 -> 'cancellous')."""
    return Label(int(value)).name.lower()
