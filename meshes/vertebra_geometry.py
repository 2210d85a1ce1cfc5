"""Parametric vertebra geometry: the local frame, implicit primitives and
:class:`~biomech.meshes.vertebra_geometry.VertebraGeometry` (body, shell, foramen, posterior elements) from published
morphometry.  The modelling rules are listed in :mod:`biomech.meshes.vertebra`;
the voxelisation into labels is there too."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from biomech.errors import InputError

from .morphometry import VertebraMorphometry

SUPERELLIPSE_EXPONENT = 2.4
WAIST_WIDTH = 0.08
WAIST_DEPTH = 0.03
POSTERIOR_INDENT = 0.06
FORAMEN_RADIUS_MM = 2.5
LAMINA_THICKNESS_MM = 6.0
SPINOUS_THICKNESS_MM = 6.0
FACET_REACH_MM = 7.0
PEDICLE_ANTERIOR_LENGTH_MM = 12.0

# point classes returned by VertebraGeometry.classify (internal)
#: Point classes of :meth:`VertebraGeometry.classify_body` (shared with the voxelisation).
_VOID, _CANCELLOUS, _CORTICAL, _ENDPLATE_SUP, _ENDPLATE_INF, _POSTERIOR, _FORAMEN = range(7)


# ---------------------------------------------------------------------------- frames
@dataclass(frozen=True)
class Frame:
    """A rigid placement: origin (3,) [mm] and rotation (3, 3) whose columns are
    the local x, y, z axes in global coordinates."""

    origin: np.ndarray = field(default_factory=lambda: np.zeros(3))
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))

    def to_local(self, p: np.ndarray) -> np.ndarray:
        return (np.asarray(p, float) - self.origin) @ self.rotation

    def to_global(self, q: np.ndarray) -> np.ndarray:
        return self.origin + np.asarray(q, float) @ self.rotation.T

    def direction_to_global(self, v) -> np.ndarray:
        return np.asarray(v, float) @ self.rotation.T

    @staticmethod
    def about_x(angle_rad: float, origin=(0.0, 0.0, 0.0)) -> "Frame":
        """Rotation by ``angle_rad`` about the global x axis (right hand)."""
        c, s = math.cos(angle_rad), math.sin(angle_rad)
        R = np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
        return Frame(np.asarray(origin, float), R)

    def as_dict(self) -> dict:
        return {"origin_mm": self.origin.tolist(), "rotation": self.rotation.tolist()}


# ---------------------------------------------------------------------------- primitives
def _superellipse(u, v, n):
    """Normalised radius F = (|u|^n + |v|^n)^(1/n) and its gradient (dF/du, dF/dv)."""
    au = np.maximum(np.abs(u), 1e-300)
    av = np.maximum(np.abs(v), 1e-300)
    qu = au ** (n - 1.0)
    qv = av ** (n - 1.0)
    F = (qu * au + qv * av) ** (1.0 / n)
    k = np.maximum(F, 1e-12) ** (1.0 - n)
    return F, k * qu * np.sign(u), k * qv * np.sign(v)


def _elliptic_cylinder_sd(p, centre, axis, side, r_side, r_up, s_min, s_max):
    """Approximate signed distance to a finite elliptic cylinder.

    axis, side : unit vectors (the third section axis is axis x side);
    r_side, r_up : section half axes; s in [s_min, s_max] along ``axis``."""
    d = p - centre
    up = np.cross(axis, side)
    s = d @ axis
    u = d @ side / r_side
    v = d @ up / r_up
    rho = np.sqrt(u * u + v * v)
    radial = (rho - 1.0) * min(r_side, r_up)
    caps = np.maximum(s - s_max, s_min - s)
    return np.maximum(radial, caps)


# ---------------------------------------------------------------------------- geometry
class VertebraGeometry:
    """Implicit geometry of one parametric vertebra in its local frame.

    morph : :class:`~biomech.meshes.morphometry.VertebraMorphometry`;
    wedge : keep the table's anterior/posterior body heights (True, for a
            lordotic segment) or use their mean front and back (False);
    posterior_elements : include pedicles, laminae and processes;
    foramen_radius : radius of the basivertebral foramen [mm] (0 = none);
    facet_reach : how far the articular processes reach past the rim planes [mm].
    """

    def __init__(self, morph: VertebraMorphometry, *, wedge: bool = False,
                 posterior_elements: bool = True, foramen_radius: float = FORAMEN_RADIUS_MM,
                 facet_reach: float = FACET_REACH_MM):
        self.m = morph.validate()
        self.wedge = bool(wedge)
        self.posterior_elements = bool(posterior_elements)
        if not 0.0 <= foramen_radius <= 8.0:
            raise InputError(f"foramen_radius must lie in [0, 8] mm, got {foramen_radius}")
        self.foramen_radius = float(foramen_radius)
        self.facet_reach = float(facet_reach)
        m = self.m
        self.n = SUPERELLIPSE_EXPONENT
        self.depth = 0.5 * (m.superior_depth + m.inferior_depth)
        self.height = m.mean_height
        if self.wedge:
            self.Ha, self.Hp = m.anterior_height, m.posterior_height
        else:
            self.Ha = self.Hp = m.mean_height
        self.indent = POSTERIOR_INDENT * self.depth
        self.y_posterior_wall = 0.5 * self.depth            # mid-sagittal posterior wall
        self._build_posterior()

    # ------------------------------------------------------------------ body
    def outline(self, z):
        """Section half-width a, superellipse half-depth b and centre y0 [mm] at
        local height z (clipped to the body)."""
        m = self.m
        t = np.clip((np.asarray(z, float) + 0.5 * self.height) / self.height, 0.0, 1.0)
        waist = 4.0 * t * (1.0 - t)
        a = 0.5 * ((1 - t) * m.inferior_width + t * m.superior_width) * (1 - WAIST_WIDTH * waist)
        depth = ((1 - t) * m.inferior_depth + t * m.superior_depth) * (1 - WAIST_DEPTH * waist)
        b = 0.5 * (depth + self.indent)
        y0 = 0.5 * self.indent
        return a, b, y0

    def _indent(self, x, a):
        """Posterior-wall indentation g(x) [mm] (kidney shape) and dg/dx."""
        w = 0.7 * a
        r = np.clip(x / w, -1.0, 1.0)
        q = np.clip(1.0 - r * r, 0.0, None)
        g = self.indent * q * q
        dg = self.indent * 2.0 * q * (-2.0 * r / w)
        return g, dg

    def section_radius(self, x, y, z):
        """Normalised section radius F (<1 inside the outline) and in-plane
        signed distance to the side wall d_lat [mm] (negative inside).
        z may be an array or a scalar (one section)."""
        a, b, y0 = self.outline(z)
        g, dg = self._indent(x, a)
        post = y > y0
        ye = y + np.where(post, g, 0.0)
        F, dFu, dFv = _superellipse(x / a, (ye - y0) / b, self.n)
        dFdx = dFu / a + np.where(post, dFv * dg / b, 0.0)
        dFdy = dFv / b
        grad = np.sqrt(dFdx * dFdx + dFdy * dFdy)
        d_lat = (F - 1.0) / np.maximum(grad, 1e-9)
        return F, d_lat

    def rim_height(self, y):
        """Body height between the rim planes at depth y [mm] (Ha anterior, Hp posterior)."""
        return 0.5 * (self.Ha + self.Hp) - (self.Ha - self.Hp) * np.asarray(y, float) / self.depth

    def superior_z(self, x, y, F=None):
        """Local z [mm] of the superior body surface above (x, y)."""
        if F is None:
            F, _ = self.section_radius(x, y, 0.5 * self.height)
        r2 = np.minimum(F, 1.0) ** 2
        return 0.5 * self.rim_height(y) - self.m.superior_concavity * (1.0 - r2)

    def inferior_z(self, x, y, F=None):
        """Local z [mm] of the inferior body surface below (x, y)."""
        if F is None:
            F, _ = self.section_radius(x, y, -0.5 * self.height)
        r2 = np.minimum(F, 1.0) ** 2
        return -0.5 * self.rim_height(y) + self.m.inferior_concavity * (1.0 - r2)

    def body_distances(self, p):
        """(d_lat, d_top, d_bot) [mm], signed (negative inside) for points (n, 3)."""
        x, y, z = p[:, 0], p[:, 1], p[:, 2]
        _, d_lat = self.section_radius(x, y, z)
        Fs, _ = self.section_radius(x, y, 0.5 * self.height)
        Fi, _ = self.section_radius(x, y, -0.5 * self.height)
        d_top = z - self.superior_z(x, y, Fs)
        d_bot = self.inferior_z(x, y, Fi) - z
        return d_lat, d_top, d_bot

    def in_foramen(self, p):
        """Points in the basivertebral foramen channel (through the posterior wall)."""
        if self.foramen_radius <= 0:
            return np.zeros(len(p), bool)
        r2 = p[:, 0] ** 2 + p[:, 2] ** 2
        y_in = self.y_posterior_wall - self.m.cortical_thickness - 1.5
        return (r2 <= self.foramen_radius ** 2) & (p[:, 1] >= y_in)

    def classify_body(self, p):
        """Point classes of the body (VOID, CANCELLOUS, CORTICAL, ENDPLATE_SUP/INF, FORAMEN)."""
        d_lat, d_top, d_bot = self.body_distances(p)
        d = np.maximum(d_lat, np.maximum(d_top, d_bot))
        cls = np.full(len(p), _VOID, np.uint8)
        inside = d <= 0.0
        cls[inside] = _CANCELLOUS
        lat = inside & (d_lat >= np.maximum(d_top, d_bot)) & (d_lat > -self.m.cortical_thickness)
        top = inside & (d_top > d_lat) & (d_top >= d_bot) & (d_top > -self.m.endplate_thickness)
        bot = inside & (d_bot > d_lat) & (d_bot > d_top) & (d_bot > -self.m.endplate_thickness)
        cls[lat] = _CORTICAL
        cls[top] = _ENDPLATE_SUP
        cls[bot] = _ENDPLATE_INF
        cls[inside & self.in_foramen(p)] = _FORAMEN
        return cls, d, (d_lat, d_top, d_bot)

    # ------------------------------------------------------------------ posterior elements
    def _build_posterior(self):
        m = self.m
        ypw = self.y_posterior_wall
        self.canal_centre_y = ypw + 0.5 * m.canal_depth
        z_ped = 0.5 * self.Hp - 0.5 * m.pedicle_height - 1.0
        self.pedicle_z = z_ped
        x_ped = 0.5 * m.canal_width + 0.5 * m.pedicle_width
        y_isth = ypw + 0.3 * m.canal_depth
        th = math.radians(m.pedicle_transverse_angle_deg)
        self.pedicles = {}
        for side, sgn in (("left", 1.0), ("right", -1.0)):
            axis = np.array([-sgn * math.sin(th), -math.cos(th), 0.0])     # posterior -> anterior
            side_vec = np.array([math.cos(th), -sgn * math.sin(th), 0.0]) * sgn
            side_vec /= np.linalg.norm(side_vec)
            self.pedicles[side] = {
                "isthmus": np.array([sgn * x_ped, y_isth, z_ped]), "axis": axis, "side": side_vec,
                "s_min": -(0.7 * m.canal_depth + 2.0) / max(math.cos(th), 0.3),
                "s_max": PEDICLE_ANTERIOR_LENGTH_MM}
        self.x_pedicle_lateral = 0.5 * m.canal_width + m.pedicle_width
        H = self.height
        xo = self.x_pedicle_lateral
        SCD = m.canal_depth
        self._boxes = [
            # spinous process
            (np.array([-0.5 * SPINOUS_THICKNESS_MM, ypw + SCD + 2.0, z_ped - 4.0 - 0.5 * m.spinous_height]),
             np.array([0.5 * SPINOUS_THICKNESS_MM, ypw + SCD + m.spinous_length, z_ped - 4.0 + 0.5 * m.spinous_height])),
        ]
        for sgn in (1.0, -1.0):
            sap = (np.array([xo - 3.0, ypw + 0.45 * SCD, z_ped]),
                   np.array([xo + 4.0, ypw + SCD + 3.0, 0.5 * H + self.facet_reach]))
            iap = (np.array([xo - 11.0, ypw + 0.8 * SCD, -0.5 * H - self.facet_reach]),
                   np.array([xo - 5.5, ypw + SCD + 6.0, -0.5 * H + 6.0]))
            for lo, hi in (sap, iap):
                if sgn < 0:
                    lo, hi = lo.copy(), hi.copy()
                    lo[0], hi[0] = -hi[0], -lo[0]
                self._boxes.append((lo, hi))
        self.lamina_z = (-0.5 * H + 1.0, z_ped + 0.5 * m.pedicle_height)
        self.transverse = (ypw + 0.6 * SCD, z_ped, xo - 2.0, 0.5 * m.transverse_process_width)

    def canal_sd(self, p):
        """Signed distance (approx.) to the vertebral canal (negative inside)."""
        m = self.m
        u = p[:, 0] / (0.5 * m.canal_width)
        v = (p[:, 1] - self.canal_centre_y) / (0.5 * m.canal_depth)
        return (np.sqrt(u * u + v * v) - 1.0) * 0.5 * min(m.canal_width, m.canal_depth)

    def _posterior_parts(self):
        """[(lo, hi, inside_fn)] of the posterior-element primitives, each with a
        local bounding box so that points far away are never evaluated."""
        if hasattr(self, "_parts"):
            return self._parts
        m = self.m
        parts = []
        for ped in self.pedicles.values():
            P, u = ped["isthmus"], ped["axis"]
            ends = np.array([P + ped["s_min"] * u, P + ped["s_max"] * u])
            r = 0.5 * max(m.pedicle_width, m.pedicle_height)
            parts.append((ends.min(axis=0) - r, ends.max(axis=0) + r,
                          lambda q, ped=ped: _elliptic_cylinder_sd(
                              q, ped["isthmus"], ped["axis"], ped["side"],
                              0.5 * m.pedicle_width, 0.5 * m.pedicle_height,
                              ped["s_min"], ped["s_max"]) <= 0.0))
        ra = 0.5 * m.canal_width + LAMINA_THICKNESS_MM
        rb = 0.5 * m.canal_depth + LAMINA_THICKNESS_MM
        z0, z1 = self.lamina_z
        yc = self.canal_centre_y

        def lamina(q):
            return ((q[:, 0] / ra) ** 2 + ((q[:, 1] - yc) / rb) ** 2) <= 1.0
        parts.append((np.array([-ra, yc, z0]), np.array([ra, yc + rb, z1]), lamina))
        for lo, hi in self._boxes:
            parts.append((lo, hi, lambda q: np.ones(len(q), bool)))
        yt, zt, x0, x1 = self.transverse

        def tp(q):
            return ((q[:, 1] - yt) / 3.5) ** 2 + ((q[:, 2] - zt) / 5.0) ** 2 <= 1.0
        for sgn in (1.0, -1.0):
            xs = sorted((sgn * x0, sgn * x1))
            parts.append((np.array([xs[0], yt - 3.5, zt - 5.0]), np.array([xs[1], yt + 3.5, zt + 5.0]), tp))
        self._parts = parts
        return parts

    def posterior_inside(self, p):
        """Boolean: points (n, 3) inside the posterior elements (canal excluded)."""
        out = np.zeros(len(p), bool)
        for lo, hi, fn in self._posterior_parts():
            sel = np.flatnonzero(np.all((p >= lo) & (p <= hi), axis=1) & ~out)
            if sel.size:
                out[sel] = fn(p[sel])
        cand = np.flatnonzero(out)
        out[cand] = self.canal_sd(p[cand]) > 0.0
        return out

    # ------------------------------------------------------------------ extents & landmarks
    def local_bounds(self):
        """(lo (3,), hi (3,)) local box [mm] that holds the whole vertebra."""
        m = self.m
        H = max(self.Ha, self.Hp)
        half_w = max(m.superior_width, m.inferior_width) / 2 + 1.0
        if self.posterior_elements:
            half_w = max(half_w, m.transverse_process_width / 2 + 1.0, self.x_pedicle_lateral + 6.0)
            y_hi = self.y_posterior_wall + m.canal_depth + m.spinous_length + 1.0
            z_hi = 0.5 * H + self.facet_reach + 1.0
        else:
            y_hi = 0.5 * max(m.superior_depth, m.inferior_depth) + 2.0
            z_hi = 0.5 * H + 1.0
        y_lo = -0.5 * max(m.superior_depth, m.inferior_depth) - 2.0
        return np.array([-half_w, y_lo, -z_hi]), np.array([half_w, y_hi, z_hi])

    def body_bounds(self):
        """(lo, hi) local box [mm] of the vertebral body."""
        m = self.m
        hw = 0.5 * max(m.superior_width, m.inferior_width) + 0.5
        hd = 0.5 * max(m.superior_depth, m.inferior_depth) + 0.5
        hz = 0.5 * max(self.Ha, self.Hp) + 0.5
        return np.array([-hw, -hd, -hz]), np.array([hw, hd, hz])

    def pedicle_trajectory(self, side: str) -> dict:
        """Transpedicular needle path in the local frame [mm]: entry on the
        posterior bone surface along the pedicle axis, isthmus, target on the
        axis at the boundary between the anterior and middle thirds of the body
        depth, unit direction (entry -> target)."""
        if side not in self.pedicles:
            raise InputError(f"side must be 'left' or 'right', got {side!r}")
        ped = self.pedicles[side]
        P, u = ped["isthmus"], ped["axis"]
        s = np.arange(0.0, 60.0, 0.05)
        pts = P[None, :] - s[:, None] * u[None, :]
        bone = self.posterior_inside(pts)
        first_out = int(np.argmax(~bone)) if (~bone).any() else len(s) - 1
        entry = pts[max(first_out - 1, 0)]
        y_target = -0.5 * self.depth + self.depth / 3.0
        s_t = (P[1] - y_target) / (-u[1])
        target = P + s_t * u
        return {"entry_mm": entry, "isthmus_mm": P.copy(), "target_mm": target, "direction": u.copy(),
                "pedicle_width_mm": self.m.pedicle_width, "pedicle_height_mm": self.m.pedicle_height,
                "length_mm": float(np.linalg.norm(target - entry))}

    def landmarks(self) -> dict:
        """Local landmarks [mm] (converted to global by the builders)."""
        return {
            "body_centre": np.zeros(3),
            "superior_endplate_centre": np.array([0.0, 0.0, 0.5 * self.rim_height(0.0)]),
            "inferior_endplate_centre": np.array([0.0, 0.0, -0.5 * self.rim_height(0.0)]),
            "foramen_centre": np.array([0.0, self.y_posterior_wall, 0.0]),
        }


