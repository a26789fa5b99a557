"""The explore study: the same result as `autotune`, resumable from any checkpoint (on disk,
after Ctrl-C), refused for another problem or version; the embedded workload."""

from __future__ import annotations

import json
import zipfile
from dataclasses import replace

import numpy as np
import pytest
from explore_cases import SETTINGS, assert_same_outcome, small_problem, small_spec

from xcompass.errors import XcompassError
from xcompass.explore import checkpoint as ckpt
from xcompass.explore.api import Explorer
from xcompass.explore.study import SearchSettings, Study
from xcompass.explore.workloads import default_distribution, default_workload, embedded_lengths
from xcompass.model.workload import RequestKind
from xcompass.search import autotune


def test_the_study_is_autotune():
    problem = small_problem()
    assert_same_outcome(Study(problem, SETTINGS).run(), autotune(problem, "edp", SETTINGS.config()))


HEADER = {"fingerprint": "test", "settings": SETTINGS.as_dict()}


def test_every_checkpoint_resumes_to_the_uninterrupted_result():
    problem = small_problem()
    saved: list[bytes] = []
    whole = Study(
        problem, SETTINGS, checkpoint=lambda s: saved.append(ckpt.encode(s, HEADER)), every=1
    ).run()
    assert len(saved) >= SETTINGS.generations  # pool, each generation, GA done, baselines
    for data in (saved[1], saved[len(saved) // 2], saved[-2]):
        path = _write(data)
        state = ckpt.load(path).state()
        assert_same_outcome(Study(problem, SETTINGS, state=state).run(), whole)


def _write(data: bytes, name: str = "c.npz") -> str:
    import tempfile

    folder = tempfile.mkdtemp()
    path = f"{folder}/{name}"
    with open(path, "wb") as handle:
        handle.write(data)
    return path


class _CtrlC:
    """A progress callback that raises KeyboardInterrupt at a generation, like Ctrl-C."""

    def __init__(self, at: int) -> None:
        self.at = at

    def __call__(self, p):  # noqa: ANN001, ANN204
        if p.method == "ga" and p.step == self.at:
            raise KeyboardInterrupt


def test_ctrl_c_leaves_a_checkpoint_that_resumes_exactly(tmp_path):
    spec, path = small_spec(), str(tmp_path / "c.npz")
    uninterrupted = Explorer(spec, SETTINGS).run()
    explorer = Explorer(spec, SETTINGS, progress=_CtrlC(4))
    explorer.interrupt_checkpoint = path
    with pytest.raises(KeyboardInterrupt):
        explorer.run()
    assert explorer.saved_at == path and explorer.best_so_far() is not None
    loaded = ckpt.load(path)
    assert loaded.header["ga"]["generation"] == 4
    resumed = Explorer(spec, SETTINGS, resume=loaded, resume_path=path).run()
    assert_same_outcome(resumed.outcome, uninterrupted.outcome)
    assert resumed.report["latency_s"] == uninterrupted.report["latency_s"]


def test_a_checkpoint_of_another_problem_or_settings_is_refused(tmp_path):
    path = str(tmp_path / "c.npz")
    Explorer(small_spec(), SETTINGS, checkpoint=path).run()
    loaded = ckpt.load(path)
    other = Explorer(replace(small_spec(), layers=3), SETTINGS, resume=loaded, resume_path=path)
    with pytest.raises(XcompassError, match="belongs to another problem"):
        other.prepare()
    more = replace(SETTINGS, generations=9)
    with pytest.raises(XcompassError, match="written with generations=8, this run has "):
        Explorer(small_spec(), more, resume=loaded, resume_path=path).prepare()


def test_a_checkpoint_of_another_version_or_no_checkpoint_is_refused(tmp_path):
    path = tmp_path / "c.npz"
    ckpt.save(str(path), ckpt.StudyState(), HEADER)
    with zipfile.ZipFile(path) as z:
        arrays = {n[:-4]: np.load(z.open(n)) for n in z.namelist()}
    header = json.loads(str(arrays["header"]))
    header["version"] = ckpt.VERSION + 1
    np.savez(path, header=np.array(json.dumps(header)))
    with pytest.raises(XcompassError, match=r"checkpoint format 2 .*start the search again"):
        ckpt.load(str(path))
    (tmp_path / "text.npz").write_text("hello")
    for bad in (tmp_path / "text.npz", tmp_path / "missing.npz"):
        with pytest.raises(XcompassError, match="--resume .*(not an xcompass|cannot read)"):
            ckpt.load(str(bad))
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(XcompassError, match="not an xcompass checkpoint"):
        ckpt.load(str(tmp_path / "other.npz"))


def test_pareto_and_baselines_off():
    problem = small_problem()
    only = SearchSettings(population=24, generations=4, seed=1, baselines=("standard",))
    outcome = Study(problem, only).run()
    assert list(outcome.results) == ["ga", "standard"]
    front = Study(problem, replace(only, objective="pareto")).run()
    assert front.searched == "nsga2" and front.best.front is not None


def test_the_embedded_workload_is_the_default_mix_with_sampled_lengths():
    wl = default_workload(0)
    kinds = {k: sum(r.count for r in wl.requests if r.kind is k) for k in RequestKind}
    kinds = {k: n for k, n in kinds.items() if n}  # kinds the mix does not use are absent
    assert kinds == {RequestKind.PREFILL: 2, RequestKind.DECODE: 32, RequestKind.VERIFY: 4}
    assert len(wl.microbatches) == 8
    assert default_workload(0) == wl and default_workload(1) != wl
    q = embedded_lengths()
    assert q.prompt[0] >= 1 and list(q.prompt) == sorted(q.prompt) and q.levels[-1] == 1.0
    prompts = [r.new_tokens for r in wl.requests if r.kind is RequestKind.PREFILL]
    assert all(q.prompt[0] <= p <= q.prompt[-1] for p in prompts)
    assert default_distribution().sample(5, 4).tokens > 0
