"""The soft tissues of a segment model as springs on its mesh, and their metrics.

:class:`SoftTissue` puts the anatomy of :mod:`biomech.meshes.attachments` (where each
ligament, facet joint and annulus fibre attaches) together with the values of
:class:`biomech.materials.soft_tissue.SoftTissueParameters` (how stiff) into
:class:`biomech.fem.couplings.SpringSet` objects for :class:`biomech.fem.problem.StaticProblem`:

* ``fibres``: per disc, tension-only segments of stiffness ``E_f (phi / 2) V / L^2`` (a
  segment of length L [mm] representing annulus volume V [mm^3] of one lamella family,
  so that a uniform fibre strain stores the energy of the smeared fibres);
* ``ligaments``: per motion segment and ligament, tension-only pairs sharing ``E A / L``
  by their weights (L: the ligament's mean pair length in the model);
* ``facets``: per joint, compression-only pairs along the joint normal, stiffness
  ``E_c A_pair / (2 t_c)`` (two cartilage layers in series), clearance ``facet_clearance_mm``.
"""
from __future__ import annotations

import logging

import numpy as np

from .fem.couplings import SpringSet, make_spring_set
from .fem.regions import node_index_map
from .materials.soft_tissue import SoftTissueParameters

log = logging.getLogger(__name__)


class SoftTissue:
    """Springs of ``model``'s soft tissues on ``mesh`` (a VoxelMesh of the model grid).

    springs : list of SpringSet (names "fibres", "ligaments", "facets");
    info : counts and areas for reports; missing : {coupling: reason} the model lacks."""

    def __init__(self, model, mesh, params: SoftTissueParameters | None = None):
        from .meshes import attachments as AT
        self.params = params or SoftTissueParameters()
        self.model, self.mesh = model, mesh
        self.springs: list[SpringSet] = []
        self.info: dict = {}
        self.missing: dict = {}
        self._fibre_length = None
        segments = AT.motion_segments(model)
        p = self.params
        if p.ligaments or p.facets:
            lig, fac = [], []
            for seg, upper, lower in segments:
                if p.ligaments:
                    att = AT.ligament_attachments(model, upper, lower)
                    lig += list(att)
                    self.missing.update({f"{seg} {k}": v for k, v in att.missing.items()})
                if p.facets:
                    att = AT.facet_pairs(model, upper, lower)
                    fac += list(att)
                    self.missing.update({f"{seg} {k}": v for k, v in att.missing.items()})
            if lig:
                self.springs.append(self._ligaments(lig))
            if fac:
                self.springs.append(self._facets(fac))
        if p.fibres:
            fibre_sets = [AT.annulus_fibres(model, d, target_angle_deg=p.fibre_angle_deg)
                          for d in _discs(model)]
            fibre_sets = [f for f in fibre_sets if f.n]
            if fibre_sets:
                self.springs.append(self._fibres(fibre_sets))
        for name, why in self.missing.items():
            log.info("soft tissue not modelled: %s (%s)", name, why)

    # ------------------------------------------------------------------ builders
    def _nodes(self, upper_ijk, lower_ijk):
        a = node_index_map(self.mesh, upper_ijk)
        b = node_index_map(self.mesh, lower_ijk)
        ok = (a >= 0) & (b >= 0) & (a != b)
        return a, b, ok

    def _ligaments(self, pairs) -> SpringSet:
        h = self.model.h
        A, B, K, G, names = [], [], [], [], []
        for pp in pairs:
            a, b, ok = self._nodes(pp.upper, pp.lower)
            if not ok.any():
                self.missing[f"{pp.segment} {pp.name} {pp.side}"] = "its attachment is not in the mesh"
                continue
            length = float(np.average(pp.lengths_mm(h)[ok], weights=pp.weight[ok]))
            k_total = self.params.ligament_EA_N(pp.name) / max(length, h)
            w = pp.weight[ok] / pp.weight[ok].sum()
            key = f"{pp.segment}/{pp.name}"
            if key not in names:
                names.append(key)
            A.append(a[ok]); B.append(b[ok]); K.append(k_total * w)
            G.append(np.full(int(ok.sum()), names.index(key)))
            self.info[f"{key}_stiffness_N_per_mm"] = self.info.get(
                f"{key}_stiffness_N_per_mm", 0.0) + k_total
        return make_spring_set("ligaments", self.mesh.points, np.concatenate(A), np.concatenate(B),
                               np.concatenate(K), kind="tension", group=np.concatenate(G),
                               group_names=tuple(names))

    def _facets(self, pairs) -> SpringSet:
        p = self.params
        A, B, K, D, G, names = [], [], [], [], [], []
        for pp in pairs:
            a, b, ok = self._nodes(pp.upper, pp.lower)
            if not ok.any():
                continue
            key = f"{pp.segment}/{pp.side}"
            names.append(key)
            k = p.cartilage_modulus_MPa * pp.weight[ok] / (2.0 * p.cartilage_thickness_mm)
            A.append(a[ok]); B.append(b[ok]); K.append(k); D.append(pp.normal[ok])
            G.append(np.full(int(ok.sum()), len(names) - 1))
            self.info[f"{key}_facet_area_mm2"] = float(pp.weight[ok].sum())
        return make_spring_set("facets", self.mesh.points, np.concatenate(A), np.concatenate(B),
                               np.concatenate(K), kind="compression", direction=np.concatenate(D),
                               gap_mm=p.facet_clearance_mm, group=np.concatenate(G),
                               group_names=tuple(names))

    def _fibres(self, fibre_sets) -> SpringSet:
        p = self.params
        h = self.model.h
        A, B, K, G, L, names = [], [], [], [], [], []
        for fs in fibre_sets:
            a, b, ok = self._nodes(fs.a, fs.b)
            length = fs.lengths_mm(h)[ok]
            k = p.fibre_modulus_MPa * 0.5 * p.fibre_volume_fraction * fs.volume_mm3[ok] / length ** 2
            names.append(fs.disc)
            A.append(a[ok]); B.append(b[ok]); K.append(k); L.append(length)
            G.append(np.full(int(ok.sum()), len(names) - 1))
            self.info[f"{fs.disc}_fibre_segments"] = int(ok.sum())
            self.info[f"{fs.disc}_fibre_angle_deg_mean"] = float(np.mean(fs.angle_deg[ok]))
        self._fibre_length = np.concatenate(L)
        return make_spring_set("fibres", self.mesh.points, np.concatenate(A), np.concatenate(B),
                               np.concatenate(K), kind="tension", group=np.concatenate(G),
                               group_names=tuple(names))

    # ------------------------------------------------------------------ results
    def metrics(self, solution) -> dict:
        """Soft-tissue metrics of a solved load case (names in :mod:`biomech.segment_metrics`)."""
        out = {}
        for s in self.springs:
            f = solution.spring_forces(s.name)
            sums = np.bincount(s.group, weights=f, minlength=len(s.group_names))
            if s.name == "ligaments":
                for gname, total in zip(s.group_names, sums):
                    seg, lig = gname.split("/")
                    out[f"{seg}_ligament_force_{lig}_N"] = out.get(
                        f"{seg}_ligament_force_{lig}_N", 0.0) + float(total)
            elif s.name == "facets":
                for gname, total in zip(s.group_names, sums):
                    seg, side = gname.split("/")
                    out[f"{seg}_facet_force_{side}_N"] = float(-total)
            elif s.name == "fibres":
                strain = f / (s.stiffness_N_per_mm * self._fibre_length)
                strain = np.where(s.stiffness_N_per_mm > 0, strain, 0.0)
                for gi, gname in enumerate(s.group_names):
                    sel = s.group == gi
                    out[f"{gname}_fibre_strain_max"] = float(strain[sel].max(initial=0.0))
        return out


def _discs(model) -> list:
    """Disc level names present in the model ('L1-L2', ...)."""
    return [n for n in model.level_names
            if "-" in n and (model.level == model.level_names.index(n)).any()]
