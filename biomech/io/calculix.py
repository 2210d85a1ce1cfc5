"""A small reader of CalculiX / Abaqus ``.inp`` input files and ``.dat`` printouts.

Enough of the format to run the CalculiX linear-elastic verification problems
(``beam8p``, ``beam10p``, ``patch_c3d8i``) with biomech; it is not a full parser.

What is read
------------
* ``*NODE`` (optional ``NSET=``); missing coordinates are 0 (as CalculiX does).
* ``*ELEMENT, TYPE=...`` with ``C3D8``, ``C3D8I``, ``C3D8R`` (all read as plain
  hex8 with 2x2x2 Gauss: incompatible modes and reduced integration are *not*
  reproduced) and ``C3D10`` (tet10, 4-point rule); optional ``ELSET=``; data lines
  that end with a comma continue on the next line.
* ``*NSET`` / ``*ELSET`` (ids, names of earlier sets, or ``GENERATE`` ranges).
* ``*MATERIAL, NAME=`` with ``*ELASTIC`` (isotropic: E [MPa], nu [-]) and
  ``*SOLID SECTION, ELSET=, MATERIAL=`` (per-element materials).
* ``*BOUNDARY``: ``node or set, first dof, [last dof], [value]`` for dofs 1-3.
* ``*CLOAD``: ``node or set, dof, value`` for dofs 1-3.  As in Abaqus (OP=MOD),
  a later load on the same node and dof replaces the earlier one.
* Output requests, ``*STEP``/``*STATIC``/``*END STEP``, ``*HEADING``, ``*DENSITY``
  are skipped.  Any other keyword raises :class:`~biomech.errors.InputError`:
  silently ignoring e.g. a ``*DLOAD`` would give a wrong answer.

Keywords, parameters and set names are case-insensitive; set names are stored
upper-case (as CalculiX prints them).  Comments start with ``**``.  Units are
whatever the file uses (biomech reads them as mm, N, MPa).

Every problem in a file raises :class:`~biomech.errors.InputError` naming the
file, the line number and what is wrong.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from biomech.errors import InputError
from biomech.fem.mesh import Mesh

log = logging.getLogger(__name__)

#: CalculiX element type -> (biomech kind, nodes per element).
ELEMENT_TYPES = {
    "C3D8": ("hex8", 8),
    "C3D8I": ("hex8", 8),
    "C3D8R": ("hex8", 8),
    "C3D10": ("tet10", 10),
}

#: Keywords whose data do not change a linear static solution (skipped).
SKIPPED_KEYWORDS = {
    "HEADING", "STEP", "STATIC", "END STEP", "NODE PRINT", "EL PRINT", "NODE FILE",
    "EL FILE", "NODE OUTPUT", "ELEMENT OUTPUT", "OUTPUT", "DENSITY", "PREPRINT",
}

HANDLED_KEYWORDS = {"NODE", "ELEMENT", "NSET", "ELSET", "MATERIAL", "ELASTIC",
                    "SOLID SECTION", "BOUNDARY", "CLOAD"}


@dataclass(frozen=True)
class Boundary:
    """Prescribed displacement [mm] of dofs first..last (1-based: 1=x, 2=y, 3=z)
    of the nodes (0-based mesh indices)."""

    nodes: np.ndarray
    first_dof: int
    last_dof: int
    value: float = 0.0

    @property
    def components(self) -> tuple[int, ...]:
        """0-based components (0=x, 1=y, 2=z)."""
        return tuple(range(self.first_dof - 1, self.last_dof))


@dataclass(frozen=True)
class ConcentratedLoad:
    """Nodal force [N] in dof (1=x, 2=y, 3=z) on each of the nodes (0-based indices)."""

    nodes: np.ndarray
    dof: int
    value: float


@dataclass(frozen=True, eq=False)
class CalculixModel:
    """A linear-elastic static model read from a CalculiX ``.inp`` file.

    mesh : biomech Mesh (hex8 or tet10) with the file's node and element sets
           (names upper-case, 0-based indices)
    E : (n_elements,) Young's modulus [MPa]; nu : (n_elements,) Poisson ratio [-]
    boundary : list of :class:`Boundary`; cloads : list of :class:`ConcentratedLoad`
    node_ids : (n_nodes,) file id of each mesh node; node_index : {file id: index}
    element_ids : (n_elements,) file id of each element
    element_types : CalculiX types met (e.g. {"C3D8I"})
    source : the file read
    """

    mesh: Mesh
    E: np.ndarray
    nu: np.ndarray
    boundary: list
    cloads: list
    node_ids: np.ndarray
    node_index: Mapping[int, int]
    element_ids: np.ndarray
    element_types: frozenset = field(default_factory=frozenset)
    source: Path | None = None

    def prescribed_displacements(self) -> dict[tuple[int, int], float]:
        """{(node index, component 0-2): value [mm]}; a later entry wins."""
        out = {}
        for b in self.boundary:
            for n in b.nodes.tolist():
                for c in b.components:
                    out[(n, c)] = b.value
        return out

    def nodal_forces(self) -> np.ndarray:
        """(n_nodes, 3) nodal forces [N]; a later CLOAD on the same node/dof replaces."""
        f = np.zeros((self.mesh.n_nodes, 3))
        for load in self.cloads:
            f[load.nodes, load.dof - 1] = load.value
        return f

    def to_problem(self, *, bbar: bool | None = None):
        """A :class:`biomech.StaticProblem` with the file's materials, supports and loads."""
        from biomech.fem.problem import StaticProblem
        prob = StaticProblem(self.mesh, self.E, self.nu, bbar=bbar)
        by_component: dict[int, tuple[list, list]] = {0: ([], []), 1: ([], []), 2: ([], [])}
        for (n, c), v in self.prescribed_displacements().items():
            by_component[c][0].append(n)
            by_component[c][1].append(v)
        for c, (nodes, values) in by_component.items():
            if nodes:
                nodes = np.asarray(nodes, dtype=np.int64)
                values = np.asarray(values, float)
                order = np.argsort(nodes)            # fix() sorts the node ids
                prob.fix(nodes[order], "xyz"[c], value=values[order][:, None])
        f = self.nodal_forces()
        loaded = np.flatnonzero(np.any(f != 0.0, axis=1))
        if loaded.size:
            prob.add_nodal_forces(loaded, f[loaded])
        return prob


# ---------------------------------------------------------------------- lexing
@dataclass
class _Card:
    keyword: str                 # upper case, single spaces: "SOLID SECTION"
    params: dict                 # upper-case name -> value as written ("" for flags)
    line: int                    # 1-based line number of the keyword
    data: list = field(default_factory=list)     # [(line number, [fields])]


def _split_fields(text: str) -> list[str]:
    return [f.strip() for f in text.split(",")]


def _cards(path: Path) -> list[_Card]:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read CalculiX input {path}: {exc}") from exc
    cards: list[_Card] = []
    i = 0
    while i < len(lines):
        raw = lines[i].strip()
        lineno = i + 1
        i += 1
        if not raw or raw.startswith("**"):
            continue
        if raw.startswith("*"):
            text = raw
            while text.endswith(",") and i < len(lines) and not lines[i].strip().startswith("*"):
                text += lines[i].strip()            # keyword line continued
                i += 1
            fields = _split_fields(text[1:])
            keyword = re.sub(r"\s+", " ", fields[0]).upper()
            params = {}
            for p in fields[1:]:
                if not p:
                    continue
                name, _, value = p.partition("=")
                params[re.sub(r"\s+", " ", name.strip()).upper()] = value.strip()
            cards.append(_Card(keyword, params, lineno))
        else:
            if not cards:
                raise InputError(f"{path}:{lineno}: data line before any keyword: {raw[:60]!r}")
            cards[-1].data.append((lineno, _split_fields(raw)))
    return cards


def _int(path, lineno, text, what) -> int:
    try:
        return int(text)
    except ValueError:
        raise InputError(f"{path}:{lineno}: {what} must be an integer, got {text!r}") from None


def _float(path, lineno, text, what) -> float:
    try:
        return float(text.replace("d", "e").replace("D", "e"))
    except ValueError:
        raise InputError(f"{path}:{lineno}: {what} must be a number, got {text!r}") from None


# ---------------------------------------------------------------------- reading
class _Reader:
    def __init__(self, path: Path):
        self.path = path
        self.node_coords: dict[int, tuple] = {}
        self.node_order: list[int] = []
        self.elements: dict[int, list[int]] = {}
        self.element_order: list[int] = []
        self.kind: str | None = None
        self.types: set[str] = set()
        self.nsets: dict[str, list[int]] = {}        # file ids
        self.elsets: dict[str, list[int]] = {}
        self.materials: dict[str, tuple[float, float]] = {}
        self.sections: list[tuple[str, str, int]] = []
        self.boundary_raw: list = []                 # (line, target, first, last, value)
        self.cload_raw: list = []                    # (line, target, dof, value)
        self.n_steps = 0

    def err(self, lineno, msg):
        return InputError(f"{self.path}:{lineno}: {msg}")

    # ---------------------------------------------------------------- cards
    def read(self, cards):
        current_material = None
        for card in cards:
            kw = card.keyword
            if kw == "STEP":
                self.n_steps += 1
                if self.n_steps > 1:
                    raise self.err(card.line, "more than one *STEP: this reader handles one "
                                   "linear static step")
            if kw in SKIPPED_KEYWORDS:
                continue
            if kw not in HANDLED_KEYWORDS:
                raise self.err(card.line, f"keyword *{kw} is not supported by this reader "
                               f"(supported: {sorted(HANDLED_KEYWORDS | SKIPPED_KEYWORDS)})")
            if kw == "NODE":
                self._nodes(card)
            elif kw == "ELEMENT":
                self._elements(card)
            elif kw in ("NSET", "ELSET"):
                self._set(card, kw)
            elif kw == "MATERIAL":
                name = card.params.get("NAME", "").upper()
                if not name:
                    raise self.err(card.line, "*MATERIAL needs NAME=")
                current_material = name
            elif kw == "ELASTIC":
                self._elastic(card, current_material)
            elif kw == "SOLID SECTION":
                elset = card.params.get("ELSET", "").upper()
                mat = card.params.get("MATERIAL", "").upper()
                if not elset or not mat:
                    raise self.err(card.line, "*SOLID SECTION needs ELSET= and MATERIAL=")
                self.sections.append((elset, mat, card.line))
            elif kw == "BOUNDARY":
                self._boundary(card)
            elif kw == "CLOAD":
                self._cload(card)

    def _nodes(self, card):
        ids = []
        for lineno, f in card.data:
            f = [x for x in f if x != ""]
            if not 1 <= len(f) <= 4:
                raise self.err(lineno, f"a *NODE line is 'id, x, y, z', got {len(f)} fields")
            nid = _int(self.path, lineno, f[0], "node id")
            xyz = [_float(self.path, lineno, v, "a coordinate") for v in f[1:]]
            xyz += [0.0] * (3 - len(xyz))
            if nid in self.node_coords:
                raise self.err(lineno, f"node {nid} is defined twice")
            self.node_coords[nid] = tuple(xyz)
            self.node_order.append(nid)
            ids.append(nid)
        if "NSET" in card.params:
            self.nsets.setdefault(card.params["NSET"].upper(), []).extend(ids)

    def _elements(self, card):
        etype = card.params.get("TYPE", "").upper()
        if etype not in ELEMENT_TYPES:
            raise self.err(card.line, f"element TYPE={etype or '(missing)'} is not supported; "
                           f"supported: {sorted(ELEMENT_TYPES)} (C3D20 and shells are not "
                           "in biomech's core)")
        kind, n_per = ELEMENT_TYPES[etype]
        if self.kind is not None and kind != self.kind:
            raise self.err(card.line, f"mixed element kinds ({self.kind} and {kind} from "
                           f"{etype}): a biomech Mesh holds one kind")
        self.kind = kind
        self.types.add(etype)
        ids = []
        pending: list[str] = []
        start = None
        for lineno, f in card.data:
            if start is None:
                start = lineno
            # a trailing comma marks a continued line; empty fields are dropped
            pending.extend(x for x in f if x != "")
            if len(pending) < 1 + n_per:
                if f and f[-1] == "":
                    continue
                raise self.err(lineno, f"{etype} element needs an id and {n_per} nodes, "
                               f"got {len(pending)} fields")
            if len(pending) > 1 + n_per:
                raise self.err(lineno, f"{etype} element needs an id and {n_per} nodes, "
                               f"got {len(pending)} fields")
            eid = _int(self.path, start, pending[0], "element id")
            conn = [_int(self.path, start, x, "a node id") for x in pending[1:]]
            if eid in self.elements:
                raise self.err(start, f"element {eid} is defined twice")
            self.elements[eid] = conn
            self.element_order.append(eid)
            ids.append(eid)
            pending = []
            start = None
        if pending:
            raise self.err(card.data[-1][0], f"incomplete {etype} element at the end of the "
                           f"block: {len(pending)} fields")
        if "ELSET" in card.params:
            self.elsets.setdefault(card.params["ELSET"].upper(), []).extend(ids)

    def _set(self, card, kw):
        name = card.params.get(kw, "").upper()
        if not name:
            raise self.err(card.line, f"*{kw} needs {kw}=")
        sets = self.nsets if kw == "NSET" else self.elsets
        target = sets.setdefault(name, [])
        generate = "GENERATE" in card.params
        for lineno, f in card.data:
            f = [x for x in f if x != ""]
            if generate:
                if len(f) not in (2, 3):
                    raise self.err(lineno, "a GENERATE line is 'first, last[, step]'")
                a, b = (_int(self.path, lineno, x, "a set bound") for x in f[:2])
                step = _int(self.path, lineno, f[2], "a step") if len(f) == 3 else 1
                if step <= 0 or b < a:
                    raise self.err(lineno, f"GENERATE needs first <= last and step > 0, "
                                   f"got {a}, {b}, {step}")
                target.extend(range(a, b + 1, step))
                continue
            for x in f:
                if re.fullmatch(r"[+-]?\d+", x):
                    target.append(int(x))
                elif x.upper() in sets:
                    target.extend(sets[x.upper()])
                else:
                    raise self.err(lineno, f"{x!r} is neither an id nor a known {kw.lower()} "
                                   f"(known: {sorted(sets)})")

    def _elastic(self, card, material):
        if material is None:
            raise self.err(card.line, "*ELASTIC outside a *MATERIAL")
        etype = card.params.get("TYPE", "ISO").upper()
        if etype not in ("ISO", "ISOTROPIC"):
            raise self.err(card.line, f"*ELASTIC TYPE={etype} is not supported (isotropic only)")
        if len(card.data) != 1:
            raise self.err(card.line, "*ELASTIC needs one data line 'E, nu' (no temperature "
                           "dependence)")
        lineno, f = card.data[0]
        f = [x for x in f if x != ""]
        if len(f) < 2 or len(f) > 3:
            raise self.err(lineno, f"*ELASTIC data is 'E, nu[, temperature]', got {len(f)} fields")
        self.materials[material] = (_float(self.path, lineno, f[0], "E"),
                                    _float(self.path, lineno, f[1], "nu"))

    def _target(self, lineno, text):
        if re.fullmatch(r"[+-]?\d+", text):
            return ("node", int(text))
        name = text.upper()
        if name not in self.nsets:
            raise self.err(lineno, f"{text!r} is neither a node id nor a known node set "
                           f"(known: {sorted(self.nsets)})")
        return ("set", name)

    def _dof(self, lineno, text, what):
        d = _int(self.path, lineno, text, what)
        if d not in (1, 2, 3):
            raise self.err(lineno, f"{what} must be 1, 2 or 3 (translations), got {d}")
        return d

    def _boundary(self, card):
        for lineno, f in card.data:
            while f and f[-1] == "":
                f = f[:-1]
            if not 2 <= len(f) <= 4:
                raise self.err(lineno, "a *BOUNDARY line is 'node or set, first dof[, last dof"
                               f"[, value]]', got {len(f)} fields")
            target = self._target(lineno, f[0])
            first = self._dof(lineno, f[1], "first dof")
            last = self._dof(lineno, f[2], "last dof") if len(f) > 2 and f[2] else first
            if last < first:
                raise self.err(lineno, f"last dof {last} < first dof {first}")
            value = _float(self.path, lineno, f[3], "value") if len(f) > 3 and f[3] else 0.0
            self.boundary_raw.append((lineno, target, first, last, value))

    def _cload(self, card):
        for lineno, f in card.data:
            while f and f[-1] == "":
                f = f[:-1]
            if len(f) != 3:
                raise self.err(lineno, f"a *CLOAD line is 'node or set, dof, value', got "
                               f"{len(f)} fields")
            target = self._target(lineno, f[0])
            self.cload_raw.append((lineno, target, self._dof(lineno, f[1], "dof"),
                                   _float(self.path, lineno, f[2], "value")))

    # ---------------------------------------------------------------- assembly
    def model(self) -> CalculixModel:
        if not self.node_coords:
            raise InputError(f"{self.path}: no *NODE data")
        if not self.elements:
            raise InputError(f"{self.path}: no *ELEMENT data")
        node_ids = np.asarray(self.node_order, dtype=np.int64)
        node_index = {nid: i for i, nid in enumerate(self.node_order)}
        points = np.array([self.node_coords[n] for n in self.node_order], float)
        element_ids = np.asarray(self.element_order, dtype=np.int64)
        element_index = {eid: i for i, eid in enumerate(self.element_order)}
        cells = np.empty((len(element_ids), len(self.elements[self.element_order[0]])), np.int64)
        for k, eid in enumerate(self.element_order):
            for a, nid in enumerate(self.elements[eid]):
                if nid not in node_index:
                    raise InputError(f"{self.path}: element {eid} uses node {nid}, which no "
                                     "*NODE block defines")
                cells[k, a] = node_index[nid]

        def resolve(ids, index, what, set_name):
            missing = [i for i in ids if i not in index]
            if missing:
                raise InputError(f"{self.path}: {what} set {set_name!r} names undefined "
                                 f"{what}s {missing[:5]}")
            return np.asarray([index[i] for i in ids], dtype=np.int64)

        node_sets = {k: resolve(v, node_index, "node", k) for k, v in self.nsets.items()}
        element_sets = {k: resolve(v, element_index, "element", k) for k, v in self.elsets.items()}
        mesh = Mesh(points, cells, self.kind, node_sets=node_sets, element_sets=element_sets)

        E, nu = self._materials(mesh)

        def nodes_of(lineno, target):
            if target[0] == "set":
                return mesh.node_sets[target[1]]
            if target[1] not in node_index:
                raise InputError(f"{self.path}:{lineno}: node {target[1]} is not defined")
            return np.asarray([node_index[target[1]]], dtype=np.int64)

        boundary = [Boundary(nodes_of(ln, t), a, b, v) for ln, t, a, b, v in self.boundary_raw]
        cloads = [ConcentratedLoad(nodes_of(ln, t), d, v) for ln, t, d, v in self.cload_raw]
        return CalculixModel(mesh=mesh, E=E, nu=nu, boundary=boundary, cloads=cloads,
                             node_ids=node_ids, node_index=node_index, element_ids=element_ids,
                             element_types=frozenset(self.types), source=self.path)

    def _materials(self, mesh):
        if not self.materials:
            raise InputError(f"{self.path}: no *MATERIAL with *ELASTIC data")
        n = mesh.n_elements
        if not self.sections:
            if len(self.materials) > 1:
                raise InputError(f"{self.path}: {len(self.materials)} materials but no "
                                 "*SOLID SECTION to assign them")
            (E, nu), = self.materials.values()
            return np.full(n, E), np.full(n, nu)
        E = np.full(n, np.nan)
        nu = np.full(n, np.nan)
        for elset, mat, line in self.sections:
            if elset not in mesh.element_sets:
                raise InputError(f"{self.path}:{line}: *SOLID SECTION ELSET={elset} is not a "
                                 f"known element set (known: {sorted(mesh.element_sets)})")
            if mat not in self.materials:
                raise InputError(f"{self.path}:{line}: *SOLID SECTION MATERIAL={mat} has no "
                                 f"*ELASTIC data (known: {sorted(self.materials)})")
            ids = mesh.element_sets[elset]
            E[ids], nu[ids] = self.materials[mat]
        if np.isnan(E).any():
            first = int(np.flatnonzero(np.isnan(E))[0])
            raise InputError(f"{self.path}: {int(np.isnan(E).sum())} elements have no "
                             f"*SOLID SECTION (first: element id {self.element_order[first]})")
        return E, nu


def read_inp(path) -> CalculixModel:
    """Read a CalculiX/Abaqus ``.inp`` file (see the module docstring for the subset)."""
    path = Path(path)
    reader = _Reader(path)
    reader.read(_cards(path))
    model = reader.model()
    log.debug("read %s: %d nodes, %d %s elements", path, model.mesh.n_nodes,
              model.mesh.n_elements, model.mesh.kind)
    return model


# ---------------------------------------------------------------------- .dat printouts
_DAT_HEADER = re.compile(r"^\s*(?P<what>[a-z][a-z .]*?)\s*\((?P<cols>[^)]*)\)\s*"
                         r"for set\s+(?P<set>\S+)\s+and time\s+(?P<time>\S+)", re.IGNORECASE)


def _dat_blocks(path: Path):
    """Yield (what, set name, time, header line number, rows) for each printed block;
    rows are lists of (line number, [numbers as text])."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read CalculiX printout {path}: {exc}") from exc
    i = 0
    while i < len(lines):
        m = _DAT_HEADER.match(lines[i])
        i += 1
        if not m:
            continue
        header_line = i
        rows = []
        while i < len(lines) and not lines[i].strip():
            i += 1
        while i < len(lines) and lines[i].strip() and not _DAT_HEADER.match(lines[i]):
            rows.append((i + 1, lines[i].split()))
            i += 1
        yield (m.group("what").strip().lower(), m.group("set").upper(),
               float(m.group("time")), header_line, rows)


def read_dat_displacements(path, set_name: str | None = None) -> dict[int, tuple]:
    """Nodal displacements of a CalculiX ``.dat`` printout (``*NODE PRINT`` U).

    Returns {node id: (ux, uy, uz)} [mm] of the last ``displacements (vx,vy,vz)``
    block (of ``set_name`` when given, case-insensitive).
    """
    path = Path(path)
    found = None
    for what, sname, _time, _line, rows in _dat_blocks(path):
        if what != "displacements" or (set_name and sname != set_name.upper()):
            continue
        out = {}
        for lineno, f in rows:
            if len(f) != 4:
                raise InputError(f"{path}:{lineno}: a displacement line is 'node ux uy uz', "
                                 f"got {len(f)} fields")
            out[_int(path, lineno, f[0], "node id")] = tuple(
                _float(path, lineno, v, "a displacement") for v in f[1:])
        found = out
    if found is None:
        raise InputError(f"{path}: no 'displacements (vx,vy,vz)' block"
                         + (f" for set {set_name}" if set_name else ""))
    return found


def read_dat_stresses(path, set_name: str | None = None) -> dict[tuple[int, int], tuple]:
    """Integration-point stresses of a CalculiX ``.dat`` printout (``*EL PRINT`` S).

    Returns {(element id, integration point 1..n): (sxx, syy, szz, sxy, sxz, syz)}
    [MPa] -- CalculiX's component order, not biomech's -- of the last ``stresses``
    block (of ``set_name`` when given).
    """
    path = Path(path)
    found = None
    for what, sname, _time, _line, rows in _dat_blocks(path):
        if what != "stresses" or (set_name and sname != set_name.upper()):
            continue
        out = {}
        for lineno, f in rows:
            if len(f) != 8:
                raise InputError(f"{path}:{lineno}: a stress line is 'element point sxx syy "
                                 f"szz sxy sxz syz', got {len(f)} fields")
            key = (_int(path, lineno, f[0], "element id"), _int(path, lineno, f[1], "point"))
            out[key] = tuple(_float(path, lineno, v, "a stress") for v in f[2:])
        found = out
    if found is None:
        raise InputError(f"{path}: no 'stresses (elem, integ.pnt., ...)' block"
                         + (f" for set {set_name}" if set_name else ""))
    return found
