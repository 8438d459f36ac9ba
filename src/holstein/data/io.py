"""Trajectory files: Parquet with one row per recorded frame, metadata in the file schema.

Columns: ``step``, ``time``, ``bias``, ``seed`` (the run's, or one per frame for frames
gathered from several runs), ``q`` and, where the provider supplies
them and the run records them (a large-lattice run keeps q and the current only),
``force``, ``density``, ``bond_current_x``, ``bond_current_y``, ``force_deviation``
(lattice arrays flattened in C order into list<double> cells), ``current``,
``force_deviation_max`` and ``force_deviation_mean`` (one number per frame): the fields
of ``holstein.data.records``.
The schema metadata key ``holstein`` holds JSON with the lattice shape
(``Lx``, ``Ly``), the physical parameters, bias, seed, the force provider and
the package version, so a file is self-describing.

Every file is written to a temporary name in the target directory and renamed
when complete: a killed job never leaves a partial file at the final path.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from holstein import __version__
from holstein.data.atomic import atomic_path
from holstein.data.records import LATTICE_FIELDS, SCALAR_FIELDS, Trajectory, field_shape

METADATA_KEY = b"holstein"


def trajectory_table(traj: Trajectory, metadata: dict, frame_bias=None,
                     frame_seed=None) -> pa.Table:
    n = traj.n_frames
    bias = np.full(n, metadata["bias"]) if frame_bias is None else np.asarray(frame_bias)
    seed = np.full(n, metadata["seed"]) if frame_seed is None else np.asarray(frame_seed)
    if bias.shape != (n,) or seed.shape != (n,):
        raise ValueError(f"frame_bias and frame_seed need one value per frame ({n}), got "
                         f"shapes {bias.shape} and {seed.shape}")
    columns = {
        "step": pa.array(traj.steps, type=pa.int64()),
        "time": pa.array(traj.times, type=pa.float64()),
        "bias": pa.array(bias, type=pa.float64()),
        "seed": pa.array(seed, type=pa.int64()),
    }
    for name in LATTICE_FIELDS:
        values = getattr(traj, name)
        if values is not None:
            values = np.ascontiguousarray(values, dtype=np.float64)
            flat = values.reshape(n, int(np.prod(values.shape[1:])))
            columns[name] = pa.FixedSizeListArray.from_arrays(pa.array(flat.ravel()), flat.shape[1])
    for name in SCALAR_FIELDS:
        values = getattr(traj, name)
        if values is not None:
            columns[name] = pa.array(np.asarray(values, dtype=np.float64), type=pa.float64())
    meta = {"Lx": int(traj.q.shape[1]), "Ly": int(traj.q.shape[2]), "version": __version__}
    meta.update(metadata)
    table = pa.table(columns)
    return table.replace_schema_metadata({METADATA_KEY: json.dumps(meta).encode()})


def write_trajectory(path, traj: Trajectory, metadata: dict, frame_bias=None,
                     frame_seed=None) -> None:
    """Write ``traj`` atomically; ``metadata`` must hold at least bias and seed.

    ``frame_bias``, ``frame_seed``: one bias and seed per frame, for frames gathered from
    several runs (labelled frames of active learning; metadata bias and seed None then);
    by default every frame has the metadata's.
    """
    missing = {"bias", "seed"} - set(metadata)
    if missing:
        raise ValueError(f"trajectory metadata lacks {sorted(missing)}")
    table = trajectory_table(traj, metadata, frame_bias, frame_seed)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def damaged(path, what: str) -> ValueError:
    """The error for an unusable trajectory file: names it and how to re-create it."""
    return ValueError(
        f"{path}: {what}. If the pipeline wrote it, re-create it and everything computed "
        f"from it with: snakemake --cores <N> --forcerun {path}"
    )


def read_metadata(path) -> dict:
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowInvalid) as err:
        raise damaged(path, f"not a readable Parquet trajectory ({err})") from err
    raw = (schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise damaged(path, "a Parquet file without holstein metadata")
    return json.loads(raw)


def read_trajectory(path) -> tuple[dict[str, np.ndarray], dict]:
    """Arrays (lattice fields reshaped to (n, ...)) and the metadata of one trajectory file."""
    meta = read_metadata(path)
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as err:
        raise damaged(path, f"truncated or corrupt Parquet file ({err})") from err
    Lx, Ly = meta["Lx"], meta["Ly"]
    shapes = {name: field_shape(name, Lx, Ly) for name in LATTICE_FIELDS}
    arrays = {}
    n = table.num_rows
    for name in table.column_names:
        col = table.column(name).combine_chunks()
        if name in shapes:
            flat = col.flatten().to_numpy(zero_copy_only=False)
            if flat.size != n * int(np.prod(shapes[name])):
                raise damaged(
                    path,
                    f"column {name!r} holds {flat.size} values, but {n} frames of a "
                    f"{Lx} x {Ly} lattice (the file's metadata) need "
                    f"{n} x {int(np.prod(shapes[name]))}",
                )
            arrays[name] = flat.reshape(n, *shapes[name])
        else:
            arrays[name] = col.to_numpy(zero_copy_only=False)
    return arrays, meta


def trajectory_digest(path) -> str:
    """sha256 of what a trajectory file holds (its metadata and every column's values),
    not of its bytes: the same data written again, by another pyarrow or on another
    machine, has the same digest, and a changed value never does."""
    arrays, meta = read_trajectory(path)
    h = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
    for name in sorted(arrays):
        values = np.ascontiguousarray(arrays[name])
        h.update(f"{name} {values.dtype.str} {values.shape}".encode())
        h.update(values.tobytes())
    return h.hexdigest()
