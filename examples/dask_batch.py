"""A study on a Dask cluster
=========================

A batch study on a local Dask cluster: a vBMD x cement-volume grid of vertebroplasty
in an L2 body between PMMA caps, one case per task, each worker one process with one
Numba thread, all sharing one Numba cache (``biomech warmup`` fills it first).

The same study runs on a cluster by giving the scheduler instead of a local cluster::

    biomech run study.toml --out /shared/results --executor dask --scheduler tcp://HOST:8786

or from Python with a SLURM or PBS cluster of dask-jobqueue (``pip install
'biomech[cluster]'``)::

    from dask_jobqueue import SLURMCluster
    from distributed import Client
    cluster = SLURMCluster(cores=1, processes=1, memory="8GB", walltime="02:00:00",
                           job_script_prologue=["export NUMBA_CACHE_DIR=/shared/numba_cache",
                                                "export NUMBA_NUM_THREADS=1"])
    cluster.scale(jobs=50)
    run_study(study, "/shared/results", executor="dask", client=Client(cluster))

The output folder must be on a file system every worker sees.  A rerun of the same
study into the same folder skips the finished cases (killed workers lose no finished
case).

Run:  python examples/dask_batch.py [--small]   (writes dask_batch_out/)
"""
from __future__ import annotations

import sys

from biomech.runner import run_study
from biomech.study import study_from_dict


def study(voxel_size_mm: float, vbmd, volumes):
    return study_from_dict({
        "study": {"name": "dask_batch", "baseline": "intact"},
        "model": {"kind": "vertebra_with_caps", "level": "L2", "posterior_elements": True,
                  "voxel_size_mm": voxel_size_mm, "bone": {"vbmd_mg_cm3": 70.0}},
        "load_cases": ["compression"],
        "cases": [
            {"name": "intact"},
            {"name": "vp", "treatment": {"kind": "vertebroplasty", "level": "L2",
                                         "volume_ml": 2.0}},
        ],
        "sweeps": [{"case": "vp", "grid": {"model.bone.vbmd_mg_cm3": list(vbmd),
                                           "treatment.volume_ml": list(volumes)},
                    "name": "vp_vbmd{vbmd_mg_cm3}_{volume_ml}ml"}],
        "outputs": {"pictures": False, "fields": "none", "vti": False},
    }, origin="dask_batch.py")


def main(small: bool = False, out_dir="dask_batch_out", workers: int = 2):
    """Run the grid on a local Dask cluster of ``workers`` processes; returns the
    StudyResult (``small``: 4 mm voxels, a 2 x 2 grid; 2 mm and 4 x 3 else)."""
    if small:
        s = study(4.0, (50.0, 100.0), (1.5, 3.0))
    else:
        s = study(2.0, (50.0, 70.0, 100.0, 150.0), (2.0, 4.0, 6.0))
    result = run_study(s, out_dir, executor="dask", workers=workers)
    print(f"{len(result.outcomes)} cases on a local Dask cluster of {workers} workers in "
          f"{result.wall_time_s:.1f} s ({len(result.skipped)} from an earlier run)")
    for r in result.rows:
        if r["status"] == "ok":
            print(f"  {r['case']:24s} L2 stiffness {r['stiffness_N_per_mm']:8.0f} N/mm")
        else:
            print(f"  {r['case']:24s} failed: {r['error']}")
    return result


if __name__ == "__main__":
    main(small="--small" in sys.argv)
