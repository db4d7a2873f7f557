"""The span layout under the data root, as CsvExampleGen reads it: <data_root>/span-<N>/<train|eval|test>/data.csv,
plus a manifest (_ingest.json) written last.

A local span folder appears by atomic rename, so ExampleGen never reads half a span. On a remote data root
(gs://...) each file appears whole but the span file by file, the manifest last: a run that starts meanwhile
fails at ExampleGen for lack of a split rather than reading part of one.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
from typing import Dict, List, Sequence

from tfx_pipeline import features
from tfx_pipeline.data.parsing import field_limit
from tfx_pipeline.locations import Location, is_remote

MANIFEST = "_ingest.json"
_SPAN_DIR = re.compile(r"^span-(\d+)$")


def span_input_patterns() -> Dict[str, str]:
    """Split name -> file pattern relative to the data root, with TFX's {SPAN} placeholder."""
    return {split: f"span-{{SPAN}}/{split}/*" for split in features.SPLITS}


def span_dir(data_root: Location, span: int) -> Location:
    return data_root / f"span-{span}"


def existing_spans(data_root: Location) -> List[int]:
    if is_remote(data_root):
        from tfx.dsl.io import fileio

        names = [n.rstrip("/") for n in fileio.listdir(data_root)] if fileio.isdir(data_root) else []
    else:
        names = [p.name for p in data_root.iterdir() if p.is_dir()] if data_root.is_dir() else []
    return sorted(int(m.group(1)) for name in names if (m := _SPAN_DIR.match(name)))


def read_manifest(span_folder: Location) -> dict:
    path = span_folder / MANIFEST
    if not is_remote(path):
        return json.loads(path.read_text()) if path.is_file() else {}
    from tfx.dsl.io import fileio

    if not fileio.exists(path):
        return {}
    with fileio.open(path, "rb") as manifest:
        return json.loads(manifest.read())


def read_span_texts(data_root: Location, span: int, splits: Sequence[str] = features.SPLITS) -> List[str]:
    """The texts of a span's `splits` (default every split), in file order."""
    texts: List[str] = []
    for split in splits:
        path = span_dir(data_root, span) / split / "data.csv"
        if is_remote(path):
            from tfx.dsl.io import fileio

            if not fileio.exists(path):
                continue
            with fileio.open(path, "rb") as handle:
                body = handle.read().decode("utf-8")
        elif path.is_file():
            body = path.read_text(encoding="utf-8")
        else:
            continue
        with field_limit():
            texts += [row.get(features.TEXT) or "" for row in csv.DictReader(io.StringIO(body, newline=""))]
    return texts


def publish_span(data_root: Location, span: int, files: Dict[str, bytes]) -> Location:
    """Writes {relative path: bytes} as <data_root>/span-<span>; MANIFEST last."""
    final = span_dir(data_root, span)
    if is_remote(data_root):
        from tfx.dsl.io import fileio

        for relative in sorted(files, key=lambda name: name == MANIFEST):
            target = final / relative
            fileio.makedirs(target.rsplit("/", 1)[0])
            with fileio.open(target, "wb") as out:
                out.write(files[relative])
        return final
    staging = data_root / f".span-{span}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    for relative, body in files.items():
        (staging / relative).parent.mkdir(parents=True, exist_ok=True)
        (staging / relative).write_bytes(body)
    os.rename(staging, final)
    return final
