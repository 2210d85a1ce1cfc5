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
#: Labels of the vertebral body: every bony label but the posterior elements (shell,
#: endplates, cancellous bone and what replaces bone inside the body: lesions, fracture zone,
#: compacted bone, cement and composite).  Used to find and measure a vertebral body.
BODY_LABELS = frozenset(BONE_LABELS - {Label.POSTERIOR})
#: Labels of an intervertebral disc.
DISC_LABELS = frozenset({Label.NUCLEUS, Label.ANNULUS, Label.CARTILAGE_ENDPLATE})
#: Trabecular compartment of a vertebral body: the labels cement can flow through
#: (cancellous bone, fracture zone, lytic tissue, angioma, compacted and blastic bone); the
#: treatments' cement front, needle-tip check and the shell closing after a column remap use it.
TRABECULAR_LABELS = frozenset({Label.CANCELLOUS, Label.FRACTURE_ZONE, Label.LYTIC,
                               Label.ANGIOMA, Label.COMPACTED, Label.BLASTIC})


class LeakSite(IntEnum):
    """Codes of the model field :data:`~biomech.meshes.labels.LEAK_SITE_FIELD`: where a leaked cement voxel went
    (0: not a leak).  Part of the file format like the labels: never renumber."""

    BODY = 0                # not a leak: inside the treated body
    SPINAL_CANAL = 1
    DISC = 2
    VENOUS = 3
    PARAVERTEBRAL = 4
    NEEDLE_TRACK = 5        # backflow along a needle track, out through the entry hole


#: Model field written by the treatments: the :class:`LeakSite` code of every voxel.
LEAK_SITE_FIELD = "cement_leak_site"
#: Leak-site code -> name, the one table of leak sites: results (``leaked_ml_by_site``),
#: CSV columns and, with "_" read as " ", the pictures.
LEAK_SITE_NAMES = {LeakSite.SPINAL_CANAL: "spinal_canal", LeakSite.DISC: "disc",
                   LeakSite.VENOUS: "venous", LeakSite.PARAVERTEBRAL: "paravertebral",
                   LeakSite.NEEDLE_TRACK: "needle_track"}


def leak_site_display_name(code: int) -> str:
    """Name of a leak-site code for pictures and legends ("spinal canal"); "site <n>" for a
    code not in :data:`LEAK_SITE_NAMES`."""
    name = LEAK_SITE_NAMES.get(int(code))
    return f"site {int(code)}" if name is None else name.replace("_", " ")


def label_name(value: int) -> str:
    """Lower-case name of a label number (e.g. 2 -> 'cancellous')."""
    return Label(int(value)).name.lower()
