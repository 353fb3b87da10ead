"""The quality benchmark's records, stored once: the raw results, compressed.

Each script appends its results to `raw/<name>.jsonl.gz` as they come (one
JSON record a line; an interrupted run resumes where it stopped), and every
table the scripts read is built from those records when it is read, never
stored beside them: `truth()` (each task's grid of trainings), `sweeps()`
(the recorded range tests) and `verified(name)` (a verification variant's
trials). Reading all of them takes about a second, no TensorFlow.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
RAW = os.path.join(HERE, "raw")


def path(name: str) -> str:
    """The file of the raw records `name` (truth, sweeps, verified_wide, advice, ...)."""
    return os.path.join(RAW, f"{name}.jsonl.gz")


def read(name: str) -> list[dict]:
    """The raw records `name`, in the order they were appended ([] where there are none yet); a last
    record cut short by an interrupted run is left out."""
    return _read(name)[0]


def _read(name: str) -> tuple[list[dict], bool]:
    """(the records of the whole gzip members of `name`, whether the file ends with a whole member)."""
    try:
        with open(path(name), "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return [], True
    members, intact = [], True
    while data:
        member = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            text = member.decompress(data)
        except zlib.error:
            intact = False
            break
        if not member.eof:  # cut short
            intact = False
            break
        members.append(text)
        data = member.unused_data
    lines = b"".join(members).decode().splitlines()
    return [json.loads(line) for line in lines if line.strip().endswith("}")], intact


def append(name: str, record: dict) -> None:
    """Append one record to `name` (a gzip member of its own: the file stays one readable stream). A
    record cut short by an interrupted run is dropped first, so the file stays readable to its end."""
    os.makedirs(RAW, exist_ok=True)
    found, intact = _read(name)
    if not intact:
        rewrite(name, found)
    with gzip.open(path(name), "at") as handle:
        handle.write(json.dumps(record) + "\n")


def rewrite(name: str, records: list[dict]) -> None:
    """Replace the records `name` with `records`, written aside first."""
    tmp = path(name) + ".tmp"
    with gzip.GzipFile(tmp, "wb", mtime=0) as handle:
        handle.write("".join(json.dumps(record) + "\n" for record in records).encode())
    os.replace(tmp, path(name))


def _by_sweep(record: dict) -> tuple:
    return record["task"], record["num_steps"], record["order"]


def truth() -> dict:
    """task -> {metric, steps_per_training, runs: [{rate, seed, score}]}, runs sorted by rate and seed."""
    import tasks

    table = {}
    for r in sorted(read("truth"), key=lambda r: (r["task"], r["rate"], r["seed"])):
        entry = table.setdefault(r["task"], {"metric": tasks.TASKS[r["task"]].metric,
                                             "steps_per_training": r["steps"], "runs": []})
        entry["runs"].append({"rate": r["rate"], "seed": r["seed"], "score": r["score"]})
    return table


def sweeps() -> list[dict]:
    """The recorded range tests, sorted by task, steps and data order."""
    return sorted(read("sweeps"), key=_by_sweep)


def verified(name: str) -> list[dict]:
    """The records of the verification variant `name` (verified, verified_wide, ...), sorted as `sweeps`."""
    return sorted(read(name), key=_by_sweep)
