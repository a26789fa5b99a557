import os
import stat

from xcompass.fileio import write_atomically


def test_new_file_gets_the_umask_mode(tmp_path):
    old = os.umask(0o022)
    try:
        path = tmp_path / "out.mlir"
        write_atomically(str(path), "module {}\n")
        assert path.read_text() == "module {}\n"
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    finally:
        os.umask(old)


def test_replacing_keeps_the_files_mode_and_leaves_no_temporaries(tmp_path):
    path = tmp_path / "report.json"
    path.write_text("old")
    path.chmod(0o600)
    write_atomically(str(path), "new")
    assert path.read_text() == "new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
