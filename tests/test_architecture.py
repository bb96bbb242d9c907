"""The house rules of the source tree: imports run one way, from higher layers to lower ones,
and no module imports another that imports it back (tests/import_graph.py reads the graph)."""
import re
from pathlib import Path

import pytest
from import_graph import LAYERS, cycles, graph, layer_of, modules, upward

DOCS = Path(__file__).resolve().parent.parent / "docs" / "architecture.md"


@pytest.fixture(scope="module")
def edges():
    return graph()


def test_the_graph_sees_imports_inside_functions_and_relative_ones(edges):
    # data/export.py imports the spoken world inside a function, relatively
    assert "data.spoken.synthesis" in edges["data.export"]
    assert "core.errors" in edges["loading"]


def test_no_module_imports_itself_back(edges):
    assert cycles(edges) == []


def test_no_layer_imports_a_higher_one(edges):
    assert upward(edges) == []


def test_every_module_is_in_a_layer():
    for name in modules():
        layer_of(name)          # raises for a module no layer names


def test_the_checks_would_catch_a_cycle_and_an_upward_import(edges):
    broken = {k: set(v) for k, v in edges.items()}
    broken["core.errors"].add("tasks.vqa")           # core importing a task: upward, and a cycle
    assert upward(broken) and cycles(broken)


def test_docs_draw_the_same_layers_in_the_same_order():
    """docs/architecture.md lists the layers, lowest first, as `N. name: members` lines."""
    listed = re.findall(r"^\d+\. \*\*(\w+)\*\*", DOCS.read_text(), re.M)
    assert listed == [name for name, _ in LAYERS]


def test_the_parser_offers_every_task_and_only_those():
    from polymodal.cli.defaults import EVALUATIONS, TRAINABLE_TASKS
    from polymodal.tasks.base import TrainableTask
    from polymodal.tasks.registry import TASKS
    assert sorted(EVALUATIONS) == TASKS.names()
    assert sorted(TRAINABLE_TASKS) == sorted(n for n in TASKS.names() if issubclass(TASKS.get(n), TrainableTask))


def test_the_parser_offers_the_backends_the_pipelines_run():
    from polymodal.cli import defaults
    from polymodal.inference import backend
    assert defaults.PRECISIONS == backend.PRECISIONS and defaults.RUNTIMES == backend.RUNTIMES


def test_the_parser_draws_with_the_models_default_guidance():
    from polymodal.cli.defaults import DRAW_GUIDANCE
    from polymodal.models.diffusion import GUIDANCE
    from polymodal.server.endpoints import GUIDANCE as FIELD
    assert DRAW_GUIDANCE == GUIDANCE == FIELD.default
