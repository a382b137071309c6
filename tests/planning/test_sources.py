"""PATHs -> items: formats detected from the file, stable ids, non-instances skipped when found by
walking and errors when named, missing PATHs refused before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.inputs import InputError
from service.planning.sources import Item, expand, item_from_request
from tests.planning.conftest import INSTANCES


def test_a_folder_is_walked_and_every_format_detected(folder: Path, in_tmp: Path):
    expansion = expand([folder.name])
    found = {item.id: (item.fmt, item.kind) for item in expansion.items}
    assert found == {
        "instances/batching/tiny.json": ("json", "batching"),
        "instances/pipeline/example.json": ("json", "pipeline"),
        "instances/workflow/example.json": ("json", "workflow"),
        "instances/workflow/ft06.txt": ("jobshop", "workflow"),
        "instances/workflow/j301_1.sm": ("psplib", "workflow"),
    }
    skipped = dict(expansion.skipped)
    assert set(skipped) == {
        "instances/workflow/MANIFEST.json",
        "instances/workflow/build.py",
        "instances/workflow/notes.txt",
    }  # hidden folders are not even looked at
    assert "manifest" in skipped["instances/workflow/MANIFEST.json"]
    assert "neither a job-shop file nor a PipeDream profile" in skipped["instances/workflow/notes.txt"]


def test_ids_are_stable_and_each_instance_comes_once(folder: Path, in_tmp: Path):
    first = [i.id for i in expand(["instances"]).items]
    again = [
        i.id for i in expand(["instances/workflow/ft06.txt", "instances", str(folder / "workflow")]).items
    ]
    assert sorted(first) == sorted(again) and len(again) == len(set(again)) == 5
    assert again[0] == "instances/workflow/ft06.txt"  # the order given, then sorted within folders


def test_globs_and_missing_paths(folder: Path, in_tmp: Path):
    assert [i.id for i in expand(["instances/*/*.sm"]).items] == ["instances/workflow/j301_1.sm"]
    assert [i.name for i in expand(["instances/**/*.json"]).items] == ["tiny", "example", "example"]
    with pytest.raises(InputError) as exc:
        expand(["instances/nope.json", "instances/*.xyz"])
    assert exc.value.lines == [
        "instances/nope.json: no such file or directory, nor a glob that matches a file",
        "instances/*.xyz: no such file or directory, nor a glob that matches a file",
    ]


def test_a_file_named_explicitly_that_is_not_an_instance_is_an_error_item(folder: Path, in_tmp: Path):
    (item,) = expand(["instances/workflow/build.py"]).items
    assert item.problem is not None and "not an instance file" in item.problem
    with pytest.raises(InputError, match="build.py: not an instance file"):
        item.load()


def test_bare_instances_need_kind(tmp_path: Path, in_tmp: Path):
    request = json.loads((INSTANCES / "workflow" / "example.json").read_text())
    (tmp_path / "bare.json").write_text(json.dumps(request["instance"]))
    ((path, reason),) = expand(["."]).skipped
    assert path == "bare.json" and "not a SolveRequest" in reason and "--kind" in reason
    (item,) = expand(["."], kind="workflow").items
    assert item.load(kind="workflow")["instance"]["tasks"][0]["id"] == request["instance"]["tasks"][0]["id"]


def test_an_unknown_kind_is_reported(tmp_path: Path, in_tmp: Path):
    (tmp_path / "odd.json").write_text(json.dumps({"kind": "quantum", "instance": {}}))
    assert expand(["."]).skipped == [
        ("odd.json", "unknown kind 'quantum' (known: batching, parallelism, pipeline, pods, workflow)")
    ]


def test_pipeline_profiles(in_tmp: Path):
    pipeline = INSTANCES / "pipeline"
    without = expand([str(pipeline)])
    assert "a PipeDream profile" in dict(without.skipped)[str(pipeline / "vgg16.graph.txt")]
    edge = [i for i in without.items if i.fmt == "pipeedge"]
    assert [i.id for i in edge] == [str(pipeline / "pipeedge")]  # the folder, not its YAML files
    assert edge[0].load()["kind"] == "pipeline"
    with_devices = expand([str(pipeline / "vgg16.graph.txt")], devices="4")
    (profile,) = with_devices.items
    assert profile.fmt == "pipedream" and len(profile.load(devices="4")["instance"]["devices"]) == 4


def test_in_memory_requests_are_items():
    request = json.loads((INSTANCES / "batching" / "tiny.json").read_text())
    item = item_from_request("generated-1", request)
    assert expand([item]).items == [item] and isinstance(item, Item)
    loaded = item.load()
    loaded["options"] = {"time_limit_s": 9}
    assert item.load() == request  # load gives a private copy
