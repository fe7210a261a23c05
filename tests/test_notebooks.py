"""Every notebook in notebooks/ runs top to bottom and shows its figures; none is committed with outputs."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import NOISE, REPO, SHARED, need

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
FIGURE_TAG = "figure"  # a cell with this tag must display at least one image


def test_notebooks_exist_and_are_committed_without_outputs():
    assert [p.name for p in NOTEBOOKS] == ["01_quickstart.ipynb", "02_cold_start_posters.ipynb",
                                           "03_hm_embedding_map.ipynb"]
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        for i, cell in enumerate(c for c in notebook.cells if c.cell_type == "code"):
            assert not cell.outputs and cell.execution_count is None, f"{path.name}: code cell {i} has outputs"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_and_shows_its_figures(path):
    notebook = nbformat.read(path, as_version=4)
    for relative in notebook.metadata.get("recsys", {}).get("needs_shared", []):
        need(SHARED / relative)
    # runs in its own folder, as Jupyter does; a cell that raises fails the test with its traceback
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    streams = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs
                      if o.get("output_type") == "stream")
    # no TensorFlow start-up lines, no "IProgress not found" from tqdm (ipywidgets draws the bars)
    assert not NOISE.search(streams) and "IProgress" not in streams, streams[-3000:]
    figure_cells = [c for c in notebook.cells if FIGURE_TAG in c.metadata.get("tags", [])]
    assert figure_cells, f"{path.name} has no cell tagged {FIGURE_TAG!r}"
    for cell in figure_cells:
        images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
        assert images, f"{path.name}: this cell shows no image:\n{cell.source}"
