"""One of each: the 6-neighbour dilation, the label sets and the leak-site table that used
to be written out several times (issue 10).  The old hand-written versions are kept here
as references, so the shared ones are checked to give the same answers."""
import numpy as np
import pytest

from biomech.meshes.labels import (BODY_LABELS, LEAK_SITE_FIELD, LEAK_SITE_NAMES,
                                   TRABECULAR_LABELS, Label, LeakSite, leak_site_display_name)
from biomech.meshes.neighbours import face_neighbours


def slice_loop_neighbours(mask):
    """The loop of conditions.exposed_trabecular / leakage.foramen_mask before issue 10
    (slices, no wrap at the grid border)."""
    nb = np.zeros(mask.shape, bool)
    for ax in range(3):
        a = [slice(None)] * 3
        b = [slice(None)] * 3
        a[ax] = slice(1, None)
        b[ax] = slice(None, -1)
        nb[tuple(a)] |= mask[tuple(b)]
        nb[tuple(b)] |= mask[tuple(a)]
    return nb


def six_shift_neighbours(zone):
    """The six shifted ORs of OsteoporoticFracture (cortical breach) before issue 10."""
    near = np.zeros(zone.shape, bool)
    near[1:] |= zone[:-1]
    near[:-1] |= zone[1:]
    near[:, 1:] |= zone[:, :-1]
    near[:, :-1] |= zone[:, 1:]
    near[:, :, 1:] |= zone[:, :, :-1]
    near[:, :, :-1] |= zone[:, :, 1:]
    return near


def drains_loop(interior, outside):
    """flow.build_domain's drains before issue 10: interior voxels next to outside ones."""
    drains = np.zeros(interior.shape, bool)
    for ax in range(3):
        a = [slice(None)] * 3
        b = [slice(None)] * 3
        a[ax] = slice(1, None)
        b[ax] = slice(None, -1)
        drains[tuple(a)] |= interior[tuple(a)] & outside[tuple(b)]
        drains[tuple(b)] |= interior[tuple(b)] & outside[tuple(a)]
    return drains


@pytest.mark.parametrize("shape, fill, seed", [((7, 9, 11), 0.1, 0), ((7, 9, 11), 0.5, 1),
                                               ((1, 5, 6), 0.3, 2), ((12, 3, 1), 0.2, 3),
                                               ((6, 6, 6), 0.9, 4)])
def test_face_neighbours_equals_the_old_loops(shape, fill, seed):
    """Random masks, voxels on the grid border included: ndimage's dilation (border
    outside the mask, nothing wraps) gives the old slice loops exactly."""
    rng = np.random.default_rng(seed)
    mask = rng.random(shape) < fill
    other = rng.random(shape) < 0.5
    new = face_neighbours(mask)
    assert np.array_equal(new, slice_loop_neighbours(mask))
    assert np.array_equal(new, six_shift_neighbours(mask))
    assert np.array_equal(other & new, drains_loop(other, mask))


def test_face_neighbours_does_not_wrap_and_leaves_the_centre_out():
    m = np.zeros((4, 4, 4), bool)
    m[0, 0, 0] = True                                 # a corner voxel
    nb = face_neighbours(m)
    assert not nb[0, 0, 0]                            # its own voxel is not its neighbour
    assert nb.sum() == 3                              # only the 3 inside the grid
    assert not nb[-1, 0, 0] and not nb[0, -1, 0] and not nb[0, 0, -1]   # no wrap (np.roll would)
    assert not face_neighbours(np.zeros((3, 3, 3), bool)).any()


def test_label_sets_are_the_ones_written_out_before():
    """BODY_LABELS (conditions and landmarks) and FLOW_LABELS (treatments.flow) were copies."""
    from biomech.conditions import anatomy
    from biomech.treatments import flow
    old_body = (Label.CORTICAL, Label.CANCELLOUS, Label.ENDPLATE, Label.COMPOSITE, Label.COMPACTED,
                Label.LYTIC, Label.BLASTIC, Label.FRACTURE_ZONE, Label.ANGIOMA, Label.CEMENT)
    assert BODY_LABELS == frozenset(old_body)
    assert anatomy.BODY_LABELS is BODY_LABELS
    old_flow = (Label.CANCELLOUS, Label.FRACTURE_ZONE, Label.LYTIC, Label.ANGIOMA,
                Label.COMPACTED, Label.BLASTIC)
    assert TRABECULAR_LABELS == frozenset(old_flow)
    assert flow.FLOW_LABELS is TRABECULAR_LABELS


def test_one_leak_site_table():
    """Treatments (results, CSV) and pictures read one table; the codes did not change."""
    from biomech.treatments import SITE_NAMES, leakage
    assert SITE_NAMES is LEAK_SITE_NAMES and leakage.LeakSite is LeakSite
    assert {int(k): v for k, v in LEAK_SITE_NAMES.items()} == \
        {1: "spinal_canal", 2: "disc", 3: "venous", 4: "paravertebral", 5: "needle_track"}
    assert LEAK_SITE_FIELD == "cement_leak_site"
    assert [leak_site_display_name(c) for c in (1, 2, 3, 4, 7)] == \
        ["spinal canal", "disc", "venous", "paravertebral", "site 7"]


def test_two_level_lists_say_what_they_return():
    """conditions.vertebra_levels: every vertebra the model declares, in level order;
    metrics.vertebrae_cranial_first: those with voxels, cranial first."""
    from biomech.conditions import vertebra_levels
    from biomech.meshes.voxel_model import VoxelModel
    from biomech.metrics import vertebrae_cranial_first
    labels = np.zeros((2, 2, 6), np.uint8)
    labels[..., :4] = Label.CANCELLOUS
    level = np.full(labels.shape, -1, np.int8)
    level[..., 0:2] = 0                               # L3 low
    level[..., 2:4] = 1                               # L2 above it; L1 declared, no voxels
    m = VoxelModel(labels, 1.0, level=level, level_names=("L3", "L2", "L1", "L2-L3"))
    assert vertebra_levels(m) == ["L3", "L2", "L1"]
    assert vertebrae_cranial_first(m) == ["L2", "L3"]


def test_case_fields_need_neither_viz_nor_pyvista():
    """The study runner holds results in CaseFields without importing biomech.viz."""
    import subprocess
    import sys
    code = ("import sys; sys.modules['pyvista'] = None\n"
            "import numpy as np\n"
            "from biomech.case_fields import CaseFields\n"
            "c = CaseFields(None, None, {'von_mises_MPa': np.arange(3.0)})\n"
            "assert c.values('von_mises_MPa')[1] == 'cell'\n"
            "assert not [m for m in sys.modules if m.startswith('biomech.viz')], 'viz imported'\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
