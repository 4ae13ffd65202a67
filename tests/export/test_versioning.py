"""`alexnet_tf.export.versioning`: a version appears whole, readable by the server's user,
and never over a directory another writer made meanwhile."""
import os
import stat

from alexnet_tf.export import versioning


def test_a_version_directory_another_writer_made_meanwhile_is_not_replaced(tmp_path):
    base = tmp_path / "m"
    with versioning.write_version(base) as pending:
        with open(os.path.join(pending.staging, "saved_model.pb"), "w") as f:
            f.write("mine")
        (base / "1").mkdir()                      # empty: rename(2) alone would replace it
    assert pending.version == 2 and pending.path == str(base / "2")
    assert os.listdir(base / "1") == []
    assert (base / "2" / "saved_model.pb").read_text() == "mine"
    assert sorted(os.listdir(base)) == ["1", "2"]


def test_a_version_is_readable_by_others_under_the_usual_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with versioning.write_version(tmp_path / "m") as pending:
            os.mkdir(os.path.join(pending.staging, "variables"))
            open(os.path.join(pending.staging, "saved_model.pb"), "w").close()
    finally:
        os.umask(old)
    mode = stat.S_IMODE(os.stat(pending.path).st_mode)
    assert mode == 0o755, oct(mode)               # TF Serving often runs as another user
