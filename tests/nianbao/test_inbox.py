import os
import time

import fsspec

from nianbao.inbox import is_return_name, list_returns, local_copy, sha256_of


def test_skips_lock_and_temp_files():
    assert is_return_name("410_城关镇_2025年报.xlsx")
    assert is_return_name("返回.XLS")
    assert is_return_name("a.ods")
    for name in ("~$城关镇.xlsx", ".~lock.城关镇.xlsx#", ".hidden.xlsx", "城关镇.xlsx.tmp", "说明.docx"):
        assert not is_return_name(name), name
    # What townships send instead of a return is listed, to be answered (receipt + 审核问题).
    for name in ("a.csv", "城关镇.et", "年报.numbers", "扫描.pdf", "照片.JPG", "全部.zip", "全部.rar"):
        assert is_return_name(name), name


def test_local_folder_recursive_oldest_first(tmp_path):
    (tmp_path / "sub").mkdir()
    old, new = tmp_path / "sub" / "b.xlsx", tmp_path / "a.xlsx"
    old.write_bytes(b"old")
    new.write_bytes(b"newer")
    (tmp_path / "~$a.xlsx").write_bytes(b"lock")
    now = time.time()
    os.utime(old, (now - 100, now - 100))
    os.utime(new, (now, now))
    files = list_returns(str(tmp_path))
    assert [f.name for f in files] == ["b.xlsx", "a.xlsx"]
    assert files[1].size == 5
    with local_copy(files[1]) as path:
        assert path == new


def test_missing_inbox_is_empty(tmp_path):
    assert list_returns(str(tmp_path / "nope")) == []


def test_remote_filesystem_through_fsspec(tmp_path):
    fs = fsspec.filesystem("memory")
    fs.pipe("/inbox/t1/x.xlsx", b"payload")
    fs.pipe("/inbox/t1/.~lock.x.xlsx#", b"lock")
    files = list_returns("memory://inbox")
    assert [f.name for f in files] == ["x.xlsx"]
    assert files[0].url.startswith("memory://")
    with local_copy(files[0]) as path:
        assert path.read_bytes() == b"payload"
        assert len(sha256_of(path)) == 64
