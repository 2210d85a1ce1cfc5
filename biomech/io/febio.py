"""A reader of FEBio 4.0 ``.feb`` inputs (XML) for linear-elastic verification.

FEBio solves every model as a finite-strain problem; biomech reads the same
geometry, supports and loads and solves them as small-strain linear elasticity.
That is a fair comparison only when strains and rotations are small (FEBio's
``isotropic elastic`` is the St. Venant-Kirchhoff material, which coincides with
linear elasticity in that limit).

What is read (FEBio 4.0 layout; the FEBio 3.0 ``<n id=.../>`` node-set form too)
------------------------------------------------------------------------------
* ``Control``: ``time_steps`` x ``step_size`` = the final time (default 1).
* ``Material``: ``isotropic elastic`` (``E``, ``v``); other material types are
  kept by name and type but make :meth:`FebioModel.to_problem` raise.
* ``Mesh``: ``Nodes`` (any ids), ``Elements`` of type ``hex8`` or ``tet4`` (one
  kind per model), ``NodeSet`` (comma list or ``<n id>``), ``Surface`` (its
  ``quad4``/``tri3`` nodes become node set ``@surface:NAME``), ``ElementSet``.
* ``MeshDomains``: ``SolidDomain name= mat=`` assigns a material to each part.
* ``Boundary``: ``zero displacement`` (``x_dof``/``y_dof``/``z_dof`` flags), ``fix``
  (``<dofs>x,y,z</dofs>``, FEBio 3), ``prescribed displacement`` (``dof``,
  ``value lc=``, ``relative`` 0) scaled by its load controller at the final time.
* ``Loads``: ``nodal_load`` of type ``nodal_force`` (``value lc=`` vector, or FEBio
  3 ``dof`` + ``scale``), scaled by its load controller at the final time.
* ``LoadData``: ``loadcurve`` controllers, evaluated at the final time
  (``LINEAR`` or ``STEP`` interpolation; ``SMOOTH`` only at a curve point),
  ``extend`` ``CONSTANT``.
Anything else inside ``Boundary`` or ``Loads`` (surface loads, rigid bodies,
contact) raises :class:`~biomech.errors.InputError`: ignoring it would change the
answer.  Output, plot-file and solver settings are ignored.

Also: :func:`read_gold_standards` reads FEBio's ``code/<os>GoldStandards.py`` dict.
"""
from __future__ import annotations

import ast
import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from biomech.errors import InputError
from biomech.fem.mesh import Mesh

log = logging.getLogger(__name__)

ELEMENT_KINDS = {"hex8": ("hex8", 8), "tet4": ("tet4", 4)}
SURFACE_FACETS = {"quad4": 4, "tri3": 3}
COMPONENTS = {"x": 0, "y": 1, "z": 2}


@dataclass(frozen=True)
class PrescribedDisplacement:
    """Components (0=x, 1=y, 2=z) of the nodes (0-based) set to value [mm] at the final time."""

    nodes: np.ndarray
    components: tuple
    value: float = 0.0


@dataclass(frozen=True, eq=False)
class FebioModel:
    """A static model read from a ``.feb`` file, loads at the final time.

    mesh : biomech Mesh with node sets (NodeSet names, ``@surface:NAME``) and
           element sets (ElementSet names and part names), 0-based indices
    E : (n_elements,) Young's modulus [MPa]; nu : (n_elements,) [-]; NaN where the
        element's material is not ``isotropic elastic``
    material_types : {part name (an <Elements> block): FEBio material type}
    material_parameters : {part name: {parameter: value}} (the material's numeric
        child elements, e.g. {"E": 1.0, "v": 0.4, "density": 1.0})
    prescribed : list of :class:`PrescribedDisplacement`
    nodal_forces : (n_nodes, 3) [N] at the final time
    final_time : [s]; node_ids : (n_nodes,) file ids; node_index : {file id: index}
    """

    mesh: Mesh
    E: np.ndarray
    nu: np.ndarray
    material_types: Mapping[str, str]
    material_parameters: Mapping[str, Mapping[str, float]]
    prescribed: list
    nodal_forces: np.ndarray
    final_time: float
    node_ids: np.ndarray
    node_index: Mapping[int, int]
    element_ids: np.ndarray
    source: Path | None = None

    def prescribed_dof_mask(self) -> np.ndarray:
        """(n_nodes, 3) bool: True where a displacement is prescribed (zero or not)."""
        mask = np.zeros((self.mesh.n_nodes, 3), dtype=bool)
        for p in self.prescribed:
            for c in p.components:
                mask[p.nodes, c] = True
        return mask

    def free_dof_norm(self, u) -> float:
        """FEBio's ``solution_norm``: sqrt(sum of u^2 over the free DOFs) [mm];
        u : (n_nodes, 3) displacements [mm]."""
        u = np.asarray(u, float).reshape(self.mesh.n_nodes, 3)
        return float(np.sqrt(np.sum(u[~self.prescribed_dof_mask()] ** 2)))

    def to_problem(self, *, bbar: bool | None = None):
        """A :class:`biomech.StaticProblem` (small strain, linear) of this model."""
        from biomech.fem.problem import StaticProblem
        if np.isnan(self.E).any():
            bad = sorted({t for t in self.material_types.values() if t != "isotropic elastic"})
            raise InputError(f"{self.source}: only 'isotropic elastic' materials can be solved "
                             f"as linear elasticity; the model also uses {bad}")
        prob = StaticProblem(self.mesh, self.E, self.nu, bbar=bbar)
        for p in self.prescribed:
            prob.fix(p.nodes, list(p.components), value=p.value)
        loaded = np.flatnonzero(np.any(self.nodal_forces != 0.0, axis=1))
        if loaded.size:
            prob.add_nodal_forces(loaded, self.nodal_forces[loaded])
        return prob


# ---------------------------------------------------------------------- helpers
def _numbers(text, path, what, count=None) -> list[float]:
    parts = [t for t in (text or "").replace(",", " ").split()]
    try:
        vals = [float(t) for t in parts]
    except ValueError:
        raise InputError(f"{path}: {what} must be numbers, got {text!r}") from None
    if count is not None and len(vals) != count:
        raise InputError(f"{path}: {what} needs {count} numbers, got {len(vals)} ({text!r})")
    return vals


def _ids(text, path, what) -> list[int]:
    vals = _numbers(text, path, what)
    if any(v != int(v) for v in vals):
        raise InputError(f"{path}: {what} must be integer ids, got {text!r}")
    return [int(v) for v in vals]


def _child_text(elem, tag, path, default=None):
    child = elem.find(tag)
    if child is None or child.text is None:
        if default is not None:
            return default
        raise InputError(f"{path}: <{elem.tag} name={elem.get('name')!r}> needs <{tag}>")
    return child.text.strip()


class _LoadCurve:
    """A FEBio loadcurve controller: points (t, value), interpolation, extension."""

    def __init__(self, elem, path):
        self.name = elem.get("name") or elem.get("id")
        self.interpolate = _child_text(elem, "interpolate", path, "LINEAR").upper()
        self.extend = _child_text(elem, "extend", path, "CONSTANT").upper()
        pts = elem.find("points")
        if pts is None:
            raise InputError(f"{path}: load controller {self.name!r} has no <points>")
        self.points = np.array([_numbers(pt.text, path, f"load curve {self.name!r} point", 2)
                                for pt in pts.findall("pt")])
        if self.points.size == 0:
            raise InputError(f"{path}: load controller {self.name!r} has no <pt>")
        self.path = path

    def __call__(self, t: float) -> float:
        ts, vs = self.points[:, 0], self.points[:, 1]
        if (t < ts[0] or t > ts[-1]) and self.extend != "CONSTANT":
            raise InputError(f"{self.path}: load curve {self.name!r}: extend={self.extend} "
                             f"outside [{ts[0]}, {ts[-1]}] is not supported (CONSTANT only)")
        hit = np.flatnonzero(np.isclose(ts, t, rtol=0, atol=1e-12 * max(1.0, abs(t))))
        if hit.size:
            return float(vs[hit[-1]])
        if self.interpolate == "LINEAR":
            return float(np.interp(t, ts, vs))
        if self.interpolate == "STEP":
            k = np.searchsorted(ts, t, side="right") - 1
            return float(vs[max(k, 0)])
        raise InputError(f"{self.path}: load curve {self.name!r}: interpolate="
                         f"{self.interpolate} is only read at its points, and t = {t} is none")


# ---------------------------------------------------------------------- reader
def read_feb(path) -> FebioModel:
    """Read a FEBio 4.0 ``.feb`` file (see the module docstring for the subset)."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise InputError(f"cannot read FEBio input {path}: {exc}") from exc
    if root.tag != "febio_spec":
        raise InputError(f"{path}: root element is <{root.tag}>, expected <febio_spec>")
    version = root.get("version", "")
    if not version.startswith(("4.", "3.")):
        log.warning("%s: febio_spec version %s; this reader follows 4.0", path, version)

    final_time = _final_time(root, path)
    curves = {}
    for lc in root.iter("load_controller"):
        if lc.get("type", "loadcurve") != "loadcurve":
            raise InputError(f"{path}: load controller type {lc.get('type')!r} is not supported "
                             "(loadcurve only)")
        curves[lc.get("id")] = _LoadCurve(lc, path)

    def scale(elem):
        lc = elem.get("lc")
        if lc is None:
            return 1.0
        if lc not in curves:
            raise InputError(f"{path}: <{elem.tag}> uses load controller lc={lc}, which "
                             f"<LoadData> does not define (defined: {sorted(curves)})")
        return curves[lc](final_time)

    materials = {}
    for mat in root.iterfind("Material/material"):
        mtype = mat.get("type", "")
        numeric = {}
        for child in mat:
            try:
                numeric[child.tag] = float((child.text or "").strip())
            except ValueError:
                pass
        elastic = None
        if mtype == "isotropic elastic":
            if "E" not in numeric or "v" not in numeric:
                raise InputError(f"{path}: isotropic elastic material {mat.get('name')!r} "
                                 "needs numeric <E> and <v>")
            elastic = (numeric["E"], numeric["v"])
        for key in (mat.get("name"), mat.get("id")):
            if key is not None:
                materials[key] = (mtype, elastic, numeric)

    mesh_el = root.find("Mesh")
    if mesh_el is None:
        raise InputError(f"{path}: no <Mesh> section")
    node_ids, coords = [], []
    for nodes in mesh_el.iterfind("Nodes"):
        for n in nodes.iterfind("node"):
            node_ids.append(int(n.get("id")))
            coords.append(_numbers(n.text, path, f"node {n.get('id')} coordinates", 3))
    if not node_ids:
        raise InputError(f"{path}: no <Nodes>/<node> data")
    node_index = {nid: i for i, nid in enumerate(node_ids)}
    if len(node_index) != len(node_ids):
        raise InputError(f"{path}: duplicate node ids")

    def to_index(ids, what):
        missing = [i for i in ids if i not in node_index]
        if missing:
            raise InputError(f"{path}: {what} names undefined nodes {missing[:5]}")
        return np.asarray([node_index[i] for i in ids], dtype=np.int64)

    kind = None
    cells, element_ids, parts = [], [], {}
    for block in mesh_el.iterfind("Elements"):
        etype = block.get("type", "")
        if etype not in ELEMENT_KINDS:
            raise InputError(f"{path}: <Elements type={etype!r} name={block.get('name')!r}> is "
                             f"not supported; supported: {sorted(ELEMENT_KINDS)}")
        k, n_per = ELEMENT_KINDS[etype]
        if kind is not None and k != kind:
            raise InputError(f"{path}: mixed element types ({kind}, {k}): a biomech Mesh holds "
                             "one kind")
        kind = k
        first = len(cells)
        for el in block.iterfind("elem"):
            conn = _ids(el.text, path, f"element {el.get('id')} nodes")
            if len(conn) != n_per:
                raise InputError(f"{path}: {etype} element {el.get('id')} has {len(conn)} "
                                 f"nodes, expected {n_per}")
            cells.append(to_index(conn, f"element {el.get('id')}"))
            element_ids.append(int(el.get("id")))
        parts[block.get("name", f"part{len(parts)}")] = np.arange(first, len(cells))
    if not cells:
        raise InputError(f"{path}: no <Elements>/<elem> data")
    element_index = {eid: i for i, eid in enumerate(element_ids)}

    node_sets = {}
    for ns in mesh_el.iterfind("NodeSet"):
        listed = [int(n.get("id")) for n in ns.iterfind("n")]
        ids = listed or _ids(ns.text, path, f"node set {ns.get('name')!r}")
        node_sets[ns.get("name")] = to_index(ids, f"node set {ns.get('name')!r}")
    for surf in mesh_el.iterfind("Surface"):
        ids = []
        for facet in surf:
            if facet.tag not in SURFACE_FACETS:
                raise InputError(f"{path}: surface {surf.get('name')!r} facet <{facet.tag}> is "
                                 f"not supported ({sorted(SURFACE_FACETS)})")
            ids += _ids(facet.text, path, f"surface {surf.get('name')!r} facet")
        node_sets[f"@surface:{surf.get('name')}"] = to_index(ids, f"surface {surf.get('name')!r}")
    element_sets = dict(parts)
    for es in mesh_el.iterfind("ElementSet"):
        listed = [int(e.get("id")) for e in es.iterfind("e")]
        ids = listed or _ids(es.text, path, f"element set {es.get('name')!r}")
        missing = [i for i in ids if i not in element_index]
        if missing:
            raise InputError(f"{path}: element set {es.get('name')!r} names undefined "
                             f"elements {missing[:5]}")
        element_sets[es.get("name")] = [element_index[i] for i in ids]

    mesh = Mesh(np.asarray(coords, float), np.asarray(cells, dtype=np.int64), kind,
                node_sets=node_sets, element_sets=element_sets)
    E, nu, material_types, material_parameters = _assign_materials(
        root, path, parts, materials, mesh.n_elements)

    def node_set_of(elem):
        name = elem.get("node_set")
        if name is None:
            raise InputError(f"{path}: <{elem.tag} name={elem.get('name')!r}> has no node_set")
        if name not in mesh.node_sets:
            raise InputError(f"{path}: <{elem.tag} name={elem.get('name')!r}> uses node set "
                             f"{name!r}, which <Mesh> does not define (defined: "
                             f"{sorted(mesh.node_sets)})")
        return mesh.node_sets[name]

    prescribed = []
    for bc in root.iterfind("Boundary/*"):
        btype = bc.get("type", "")
        nodes = node_set_of(bc)
        if bc.tag == "bc" and btype == "zero displacement":
            comps = tuple(c for c, tag in enumerate(("x_dof", "y_dof", "z_dof"))
                          if _child_text(bc, tag, path, "0") not in ("0", ""))
            if comps:
                prescribed.append(PrescribedDisplacement(nodes, comps, 0.0))
        elif bc.tag == "bc" and btype == "fix":
            dofs = [d.strip() for d in _child_text(bc, "dofs", path).split(",") if d.strip()]
            bad = [d for d in dofs if d not in COMPONENTS]
            if bad:
                raise InputError(f"{path}: bc {bc.get('name')!r}: dofs {bad} are not "
                                 "displacement dofs (x, y, z)")
            prescribed.append(PrescribedDisplacement(nodes, tuple(COMPONENTS[d] for d in dofs)))
        elif bc.tag == "bc" and btype == "prescribed displacement":
            dof = _child_text(bc, "dof", path)
            if dof not in COMPONENTS:
                raise InputError(f"{path}: bc {bc.get('name')!r}: dof {dof!r} is not x, y or z")
            if _child_text(bc, "relative", path, "0") not in ("0", "false"):
                raise InputError(f"{path}: bc {bc.get('name')!r}: relative displacements are "
                                 "not supported")
            value_el = bc.find("value")
            if value_el is None:
                raise InputError(f"{path}: bc {bc.get('name')!r} needs <value>")
            value = _numbers(value_el.text, path, "a prescribed value", 1)[0] * scale(value_el)
            prescribed.append(PrescribedDisplacement(nodes, (COMPONENTS[dof],), value))
        else:
            raise InputError(f"{path}: <{bc.tag} type={btype!r}> in <Boundary> is not supported "
                             "(zero displacement, fix, prescribed displacement)")

    forces = np.zeros((mesh.n_nodes, 3))
    for load in root.iterfind("Loads/*"):
        ltype = load.get("type", "")
        if load.tag != "nodal_load" or ltype not in ("nodal_force", ""):
            raise InputError(f"{path}: <{load.tag} type={ltype!r}> in <Loads> is not supported "
                             "(nodal_load of type nodal_force only)")
        nodes = node_set_of(load)
        if _child_text(load, "relative", path, "0") not in ("0", "false"):
            raise InputError(f"{path}: nodal load {load.get('name')!r}: relative loads are not "
                             "supported")
        value_el = load.find("value")
        if value_el is not None and load.find("dof") is None:
            vec = np.array(_numbers(value_el.text, path, "a nodal force", 3)) * scale(value_el)
        else:       # FEBio 3: <dof>z</dof> <scale lc=..>value</scale>
            dof = _child_text(load, "dof", path)
            if dof not in COMPONENTS:
                raise InputError(f"{path}: nodal load {load.get('name')!r}: dof {dof!r} is not "
                                 "x, y or z")
            scale_el = load.find("scale")
            if scale_el is None:
                raise InputError(f"{path}: nodal load {load.get('name')!r} needs <value> or "
                                 "<scale>")
            vec = np.zeros(3)
            vec[COMPONENTS[dof]] = _numbers(scale_el.text, path, "a scale", 1)[0] * scale(scale_el)
        forces[nodes] += vec

    log.debug("read %s: %d nodes, %d %s elements, t_end = %g", path, mesh.n_nodes,
              mesh.n_elements, kind, final_time)
    return FebioModel(mesh=mesh, E=E, nu=nu, material_types=material_types,
                      material_parameters=material_parameters,
                      prescribed=prescribed, nodal_forces=forces, final_time=final_time,
                      node_ids=np.asarray(node_ids, dtype=np.int64), node_index=node_index,
                      element_ids=np.asarray(element_ids, dtype=np.int64), source=path)


def _final_time(root, path) -> float:
    control = root.find("Control")
    if control is None:
        return 1.0
    steps = control.findtext("time_steps")
    size = control.findtext("step_size")
    if steps is None or size is None:
        return 1.0
    try:
        return int(steps) * float(size)
    except ValueError:
        raise InputError(f"{path}: <Control> time_steps {steps!r} / step_size {size!r} are not "
                         "numbers") from None


def _assign_materials(root, path, parts, materials, n_elements):
    E = np.full(n_elements, np.nan)
    nu = np.full(n_elements, np.nan)
    types, parameters = {}, {}
    domains = list(root.iterfind("MeshDomains/SolidDomain"))
    if not domains:
        # FEBio 2.5-style: the material is an attribute of <Elements>
        domains = [el for el in root.iterfind("Mesh/Elements") if el.get("mat")]
    for dom in domains:
        part, mat = dom.get("name"), dom.get("mat")
        if part not in parts:
            raise InputError(f"{path}: SolidDomain {part!r} names no <Elements> part "
                             f"(parts: {sorted(parts)})")
        if mat not in materials:
            raise InputError(f"{path}: SolidDomain {part!r} uses material {mat!r}, which "
                             f"<Material> does not define (defined: {sorted(materials)})")
        mtype, elastic, numeric = materials[mat]
        types[part] = mtype
        parameters[part] = dict(numeric)
        if elastic is not None:
            E[parts[part]], nu[parts[part]] = elastic
    unassigned = [p for p in parts if p not in types]
    if unassigned:
        raise InputError(f"{path}: element parts {unassigned} have no material (no SolidDomain)")
    return E, nu, types, parameters


def read_gold_standards(path) -> dict:
    """FEBio's ``code/<os>GoldStandards.py``: {test name: [termination, time steps,
    iterations, RHS evaluations, reformations, plot-file size, data value]}.

    Read with ``ast.literal_eval`` (the file is one dict literal; nothing is executed).
    """
    path = Path(path)
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except (OSError, SyntaxError) as exc:
        raise InputError(f"cannot read FEBio gold standards {path}: {exc}") from exc
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and getattr(node.targets[0], "id", None) == "stdResults"):
            try:
                return ast.literal_eval(node.value)
            except ValueError as exc:
                raise InputError(f"{path}: stdResults is not a plain literal: {exc}") from exc
    raise InputError(f"{path}: no 'stdResults = {{...}}' assignment")
