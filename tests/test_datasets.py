"""Tests for libs.datasets: offline, downloads only from a loopback HTTP server."""
import hashlib
import http.server
import io
import os
import pathlib
import socket
import stat
import string
import struct
import tarfile
import threading
import zipfile

import numpy as np
import pytest
from PIL import Image

from libs import datasets, downloads


@pytest.fixture(autouse=True)
def data_home(tmp_path, monkeypatch):
    """Every test gets its own data directory; nothing is written to the repository's data/."""
    home = tmp_path / "cadl-data"
    monkeypatch.setenv("CADL_DATA_DIR", str(home))
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    return home


class _Handler(http.server.BaseHTTPRequestHandler):
    """GET /ok/NAME serves NAME; /drop/NAME cuts the connection mid-body; /short/NAME announces
    more bytes than it sends; anything else is a 404."""

    def do_GET(self):
        self.server.requests.append(self.path)
        kind, _, name = self.path.lstrip("/").partition("/")
        file = self.server.root / name
        if kind not in ("ok", "drop", "short") or not name or not file.is_file():
            self.send_error(404, "Not Found")
            return
        body = file.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body) + (1000 if kind == "short" else 0)))
        self.end_headers()
        if kind == "drop":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            # Linger 0: closing now sends a TCP reset, as when a connection is dropped.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.wfile.close()
            self.rfile.close()
            self.connection.close()
        else:
            self.wfile.write(body)
        self.close_connection = True

    def handle(self):
        """Serve; after a "drop", whose connection do_GET closed itself, end without the
        traceback http.server would print on flushing the closed stream."""
        try:
            super().handle()
        except ValueError:
            if not self.wfile.closed:
                raise

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """A loopback HTTP server serving tmp_path/served; `.url(kind, name)` and `.requests`."""
    root = tmp_path / "served"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.root, httpd.requests = root, []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = lambda kind, name: f"http://127.0.0.1:{httpd.server_address[1]}/{kind}/{name}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def serve(server, name: str, data: bytes) -> bytes:
    (server.root / name).write_bytes(data)
    return data


# ---------------------------------------------------------------- data_dir

def test_data_dir_uses_env_var_and_creates_it(data_home):
    assert not data_home.exists()
    assert downloads.data_dir() == data_home
    assert data_home.is_dir()


def test_data_dir_unusable_names_folder_and_env_var(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("CADL_DATA_DIR", str(blocker / "data"))
    with pytest.raises(PermissionError, match="CADL_DATA_DIR") as err:
        downloads.data_dir()
    assert str(blocker / "data") in str(err.value)


def test_data_dir_defaults_to_repository_data(monkeypatch):
    monkeypatch.delenv("CADL_DATA_DIR")
    root = pathlib.Path(datasets.__file__).resolve().parent.parent
    if not ((root / "data").is_dir() and (root / "setup.py").is_file()):
        pytest.skip("not a source checkout")
    assert downloads.data_dir() == root / "data"


# ---------------------------------------------------------------- download

def test_download_then_served_from_cache(server, tmp_path):
    data = serve(server, "blob.bin", os.urandom(50_000))
    cache = tmp_path / "cache"
    path = downloads.download(server.url("ok", "blob.bin"), "blob.bin", sha256=sha256(data),
                             cache_dir=cache)
    assert path == cache / "blob.bin" and path.read_bytes() == data
    assert len(server.requests) == 1
    again = downloads.download(server.url("ok", "blob.bin"), "blob.bin", sha256=sha256(data),
                              cache_dir=cache)
    assert again == path and len(server.requests) == 1  # no second request
    assert sorted(os.listdir(cache)) == ["blob.bin"]


def test_download_md5_and_no_hash(server, tmp_path):
    data = serve(server, "a.txt", b"hello world\n" * 100)
    path = downloads.download(server.url("ok", "a.txt"), "a.txt",
                             md5=hashlib.md5(data).hexdigest(), cache_dir=tmp_path / "c")
    assert path.read_bytes() == data
    path = downloads.download(server.url("ok", "a.txt"), "b.txt", cache_dir=tmp_path / "c")
    assert path.read_bytes() == data


def test_download_redownloads_a_corrupt_cached_file(server, tmp_path):
    data = serve(server, "blob.bin", os.urandom(1000))
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "blob.bin").write_bytes(b"stale")
    path = downloads.download(server.url("ok", "blob.bin"), "blob.bin", sha256=sha256(data),
                             cache_dir=cache)
    assert path.read_bytes() == data and len(server.requests) == 1


@pytest.mark.parametrize("kind, reasons", [
    ("404", ["HTTP status 404"]),
    ("drop", ["connection dropped", "truncated"]),  # which one depends on timing
    ("short", ["truncated"]),
])
def test_download_failures_leave_nothing(server, tmp_path, kind, reasons):
    data = serve(server, "blob.bin", os.urandom(200_000))
    cache = tmp_path / "cache"
    url = server.url(kind, "blob.bin")
    with pytest.raises(downloads.DownloadError) as err:
        downloads.download(url, "blob.bin", sha256=sha256(data), cache_dir=cache)
    message = str(err.value)
    assert url in message and any(reason in message for reason in reasons)
    assert str(cache / "blob.bin") in message  # says where to put it by hand
    assert os.listdir(cache) == []


def test_download_connection_refused(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/x.bin"
    with pytest.raises(downloads.DownloadError, match="connection refused") as err:
        downloads.download(url, "x.bin", cache_dir=tmp_path / "cache")
    assert url in str(err.value)
    assert os.listdir(tmp_path / "cache") == []


def test_download_wrong_checksum(server, tmp_path):
    serve(server, "blob.bin", b"not what you expected")
    expected = sha256(b"something else")
    with pytest.raises(downloads.DownloadError) as err:
        downloads.download(server.url("ok", "blob.bin"), "blob.bin", sha256=expected,
                          cache_dir=tmp_path / "cache")
    message = str(err.value)
    assert expected in message and sha256(b"not what you expected") in message
    assert "mismatch" in message
    assert os.listdir(tmp_path / "cache") == []


def test_download_ctrl_c_removes_partial_file(tmp_path, monkeypatch):
    import keras

    def interrupted(fname, origin, cache_dir, **kwargs):
        pathlib.Path(cache_dir, fname).write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(keras.utils, "get_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        downloads.download("http://127.0.0.1:9/x", "x.bin", cache_dir=tmp_path / "cache")
    assert os.listdir(tmp_path / "cache") == []


def test_download_rejects_paths_as_fname(tmp_path):
    with pytest.raises(ValueError):
        downloads.download("http://127.0.0.1:9/x", "../x.bin", cache_dir=tmp_path)


# ---------------------------------------------------------------- extract

def _zip(path, entries):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def test_extract_zip_and_tar(tmp_path):
    archive = _zip(tmp_path / "a.zip", {"top/x.txt": "x", "top/sub/y.txt": "y"})
    out = downloads.extract(archive, tmp_path / "out-zip")
    assert (out / "top" / "sub" / "y.txt").read_text() == "y"
    with tarfile.open(tmp_path / "a.tar.gz", "w:gz") as tf:
        tf.add(out / "top", arcname="top")
    out = downloads.extract(tmp_path / "a.tar.gz", tmp_path / "out-tar")
    assert (out / "top" / "x.txt").read_text() == "x"
    with pytest.raises(FileExistsError):
        downloads.extract(archive, tmp_path / "out-zip")


def _tar_with(path, member, data=b""):
    with tarfile.open(path, "w") as tf:
        tf.addfile(tarfile.TarInfo("fine.txt"), io.BytesIO(b""))
        member.size = len(data)
        tf.addfile(member, io.BytesIO(data))
    return path


def _symlink_out():
    member = tarfile.TarInfo("inner/link")
    member.type, member.linkname = tarfile.SYMTYPE, "../../outside"
    return member


def _zip_link(path, target: bytes):
    info = zipfile.ZipInfo("inner/link")
    info.external_attr = 0o120777 << 16  # a symbolic link, its target the entry's data
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ok.txt", "x")
        zf.writestr(info, target)
    return path


@pytest.mark.parametrize("make, bad", [
    (lambda p: _zip(p / "evil.zip", {"ok.txt": "x", "../evil.txt": "x"}), "../evil.txt"),
    (lambda p: _zip(p / "evil.zip", {"/abs/evil.txt": "x"}), "/abs/evil.txt"),
    (lambda p: _tar_with(p / "evil.tar", tarfile.TarInfo("a/../../evil.txt"), b"x"),
     "a/../../evil.txt"),
    (lambda p: _tar_with(p / "evil.tar", tarfile.TarInfo("/abs/evil.txt"), b"x"), "/abs/evil.txt"),
    (lambda p: _tar_with(p / "evil.tar", _symlink_out()), "inner/link"),
    (lambda p: _zip_link(p / "evil.zip", b"../../outside"), "inner/link"),
    (lambda p: _zip_link(p / "evil.zip", b"\xff\xfe../outside"), "inner/link"),  # not UTF-8
])
def test_extract_refuses_entries_outside_target(tmp_path, make, bad):
    work = tmp_path / "work"
    work.mkdir()
    archive = make(tmp_path)
    with pytest.raises(ValueError) as err:
        downloads.extract(archive, work / "out")
    assert bad in str(err.value)
    assert os.listdir(work) == []  # nothing extracted, no temporary folder left
    assert not (tmp_path / "evil.txt").exists()


# ---------------------------------------------------------------- faces, corpus, digits, load_text

def test_faces():
    x = datasets.faces()
    assert x.shape == (200, 32, 32, 1) and x.dtype == np.uint8
    assert x.max() > 200 and x.min() < 50
    np.testing.assert_array_equal(x[100:], x[:100, :, ::-1])  # mirrors of the first 100
    assert len({img.tobytes() for img in x[:100]}) == 100
    x[:] = 0  # a copy: the cache is untouched
    assert datasets.faces().max() > 0
    assert datasets.faces(16).shape == (200, 16, 16, 1)


def test_faces_uses_only_the_face_images():
    from skimage.data import lfw_subset

    x = datasets.faces(25)[:100, ..., 0].astype(float) / 255
    src = lfw_subset()
    # Each image matches its source face closely, and not the non-face patches 100-199.
    assert np.abs(x - src[:100]).mean() < 0.05
    assert np.abs(x - src[100:]).mean() > 0.1


@pytest.mark.parametrize("size", [4, 7, 0, -1, 32.0, "32", True])
def test_faces_bad_size(size):
    with pytest.raises(ValueError, match="size"):
        datasets.faces(size)


def test_corpus():
    text = datasets.corpus()
    assert isinstance(text, str) and len(text) >= 500_000
    datasets.corpus.cache_clear()
    assert datasets.corpus() == text  # deterministic, not just cached
    letters = set(string.ascii_letters + " \n")
    assert sum(ch in letters for ch in text) / len(text) > 0.75
    assert "assert" in text and "\x00" not in text


def test_digits():
    x, y = datasets.digits(60, seed=3)
    assert x.shape == (60, 28, 28, 1) and x.dtype == np.uint8
    assert y.shape == (60,) and y.dtype == np.int64
    assert y.min() >= 0 and y.max() <= 9 and len(set(y.tolist())) >= 8
    assert ((x > 0).sum(axis=(1, 2, 3)) > 20).all()  # every image has ink
    assert (x[:, 0, :, 0] == 0).mean() > 0.9  # black border, like MNIST
    x2, y2 = datasets.digits(60, seed=3)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    x3, _ = datasets.digits(60, seed=4)
    assert not np.array_equal(x, x3)
    x[:] = 255  # the caller's copy: the next call still gets the digits
    np.testing.assert_array_equal(datasets.digits(60, seed=3)[0], x2)
    with pytest.raises(ValueError, match="n must be"):
        datasets.digits(0)


def test_load_text(tmp_path):
    good = tmp_path / "good.txt"
    good.write_bytes("caf\u00e9\r\nline two\n".encode())
    assert datasets.load_text(good) == "caf\u00e9\nline two\n"
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        datasets.load_text(tmp_path / "empty.txt")
    (tmp_path / "nul.bin").write_bytes(b"abc\x00def")
    with pytest.raises(ValueError, match="not a text file"):
        datasets.load_text(tmp_path / "nul.bin")
    (tmp_path / "latin.txt").write_bytes(b"\xff\xfe\xfa bad")
    with pytest.raises(ValueError, match="UTF-8"):
        datasets.load_text(tmp_path / "latin.txt")
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        datasets.load_text(tmp_path / "missing.txt")


# ---------------------------------------------------------------- CELEB

def _jpeg_bytes(seed):
    buf = io.BytesIO()
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def _celeb_zip(path, n=3):
    return _zip(path, {f"img_align_celeba/{i:06d}.jpg": _jpeg_bytes(i) for i in range(1, n + 1)})


def test_celeb_from_folder(tmp_path):
    folder = tmp_path / "faces" / "nested"
    folder.mkdir(parents=True)
    for i in (2, 1):
        (folder / f"{i:06d}.jpg").write_bytes(_jpeg_bytes(i))
    (folder / "notes.txt").write_text("not an image")
    files = datasets.CELEB(tmp_path / "faces")
    assert files == [str(folder / "000001.jpg"), str(folder / "000002.jpg")]
    (tmp_path / "none").mkdir()
    with pytest.raises(FileNotFoundError, match="No .jpg"):
        datasets.CELEB(tmp_path / "none")


def test_celeb_from_zip_path(tmp_path):
    archive = _celeb_zip(tmp_path / "img_align_celeba.zip")
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    with pytest.raises(ValueError, match="md5 checksum mismatch"):
        datasets.CELEB(archive)  # the default md5 is the official archive's
    files = datasets.CELEB(archive, md5=md5)
    assert len(files) == 3 and all(f.endswith(".jpg") for f in files)
    assert all(os.path.isfile(f) for f in files) and files == sorted(files)
    assert datasets.CELEB(archive, md5=md5) == files  # second call reuses the extracted folder


def test_celeb_default_locations(data_home):
    data_home.mkdir()
    _celeb_zip(data_home / "img_align_celeba.zip", n=2)
    files = datasets.CELEB(md5=None)
    assert len(files) == 2 and files[0].startswith(str(data_home / "img_align_celeba"))
    assert datasets.CELEB(md5=None) == files


def test_celeb_missing_says_where_to_put_it(data_home):
    with pytest.raises(FileNotFoundError) as err:
        datasets.CELEB()
    message = str(err.value)
    assert str(data_home / "img_align_celeba.zip") in message
    assert datasets.CELEB_PAGE in message and "faces()" in message and "url=" in message


def test_celeb_download(server, data_home):
    data = _celeb_zip(server.root / "celeba.zip", n=4).read_bytes()
    files = datasets.CELEB(url=server.url("ok", "celeba.zip"), md5=hashlib.md5(data).hexdigest())
    assert len(files) == 4
    assert (data_home / "img_align_celeba.zip").read_bytes() == data


ATTRIBUTES = ("3\nSmiling Male Eyeglasses\n000001.jpg  1 -1 -1\n000002.jpg -1  1 -1\n"
              "000003.jpg  1  1  1\n")


def test_celeb_attributes_follow_the_files_given(tmp_path):
    path = tmp_path / "list_attr_celeba.txt"
    path.write_text(ATTRIBUTES)
    names, labels = datasets.CELEB_ATTRIBUTES(["/a/000003.jpg", "/b/000001.jpg"], path, md5=None)
    assert names == ["Smiling", "Male", "Eyeglasses"]
    assert labels.dtype == bool and labels.tolist() == [[True, True, True], [True, False, False]]
    with pytest.raises(ValueError, match="failed verification"):  # not the official list
        datasets.CELEB_ATTRIBUTES(["000001.jpg"], path)
    with pytest.raises(ValueError, match="1 of the 2 files have no labels.*000009.jpg"):
        datasets.CELEB_ATTRIBUTES(["000001.jpg", "000009.jpg"], path, md5=None)
    damaged = tmp_path / "damaged.txt"
    damaged.write_text(ATTRIBUTES.replace("000002.jpg -1  1 -1", "000002.jpg -1  1"))
    with pytest.raises(ValueError, match="not a CelebA attribute list"):
        datasets.CELEB_ATTRIBUTES(["000001.jpg"], damaged, md5=None)


def test_celeb_attributes_default_to_the_data_directory_and_celeb(data_home):
    with pytest.raises(FileNotFoundError, match="list_attr_celeba.txt.*" + str(data_home)):
        datasets.CELEB_ATTRIBUTES(["000001.jpg"])
    data_home.mkdir(exist_ok=True)
    (data_home / "list_attr_celeba.txt").write_text(ATTRIBUTES)
    _celeb_zip(data_home / "img_align_celeba.zip", n=2)
    datasets.CELEB(md5=None)  # extracted once; CELEB() then finds the folder
    names, labels = datasets.CELEB_ATTRIBUTES(md5=None)
    assert labels.tolist() == [[True, False, False], [False, True, False]]


# ---------------------------------------------------------------- ALICE, MNIST, CIFAR10

def test_alice_is_embedded_checked_and_without_gutenberg_header(monkeypatch, tmp_path):
    text = datasets.ALICE()
    assert text.startswith("ALICE'S ADVENTURES IN WONDERLAND") and text.endswith("THE END\n")
    assert "Gutenberg" not in text and "\r" not in text and 140_000 < len(text) < 150_000
    damaged = tmp_path / "alice.txt.gz"
    damaged.write_bytes(datasets.ALICE_FILE.read_bytes()[:-10])
    monkeypatch.setattr(datasets, "ALICE_FILE", damaged)
    datasets.ALICE.cache_clear()
    try:
        with pytest.raises(OSError, match=r"alice.txt.gz is damaged \(sha256 checksum mismatch"):
            datasets.ALICE()
    finally:
        datasets.ALICE.cache_clear()


def test_mnist(server, data_home):
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    np.savez(buf, x_train=rng.integers(0, 255, (6, 28, 28), dtype=np.uint8),
             y_train=np.arange(6, dtype=np.uint8),
             x_test=rng.integers(0, 255, (4, 28, 28), dtype=np.uint8),
             y_test=np.arange(4, dtype=np.uint8))
    data = serve(server, "mnist.npz", buf.getvalue())
    (x, y), (xt, yt) = datasets.MNIST(url=server.url("ok", "mnist.npz"), sha256=sha256(data))
    assert x.shape == (6, 28, 28, 1) and x.dtype == np.uint8 and y.tolist() == list(range(6))
    assert xt.shape == (4, 28, 28, 1) and yt.shape == (4,)
    assert (data_home / "mnist.npz").is_file()


def _cifar_binary(path, sizes, record=3073):
    """A fake cifar-10-binary.tar.gz: batch i's record j has label (i + j) % 10 and pixels
    i * 10 + j + channel * 100 + position (mod 256); returns the archive's bytes."""
    with tarfile.open(path, "w:gz") as tf:
        for i, (name, n) in enumerate(sizes.items()):
            rows = [[(i + j) % 10] + [(i * 10 + j + c * 100 + k) % 256 for c in range(3)
                                      for k in range(1024)] for j in range(n)]
            blob = np.array(rows, np.uint8).tobytes()[:n * record]
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(blob)
            tf.addfile(info, io.BytesIO(blob))
    return pathlib.Path(path).read_bytes()


CIFAR_SIZES = {**{f"data_batch_{i}.bin": 3 for i in range(1, 6)}, "test_batch.bin": 2}


def test_cifar10_reads_the_binary_version_without_pickle_or_extraction(server, data_home):
    data = _cifar_binary(server.root / "cifar.tar.gz", CIFAR_SIZES)
    (x, y), (xt, yt) = datasets.CIFAR10(url=server.url("ok", "cifar.tar.gz"), sha256=sha256(data))
    assert x.shape == (15, 32, 32, 3) and x.dtype == np.uint8 and y.dtype == np.uint8
    assert y.tolist() == [(i + j) % 10 for i in range(5) for j in range(3)]
    assert xt.shape == (2, 32, 32, 3) and yt.tolist() == [5, 6]
    # Record j of batch i: red, green, blue planes of 1024 bytes, each row by row.
    assert x[4, 0, 1].tolist() == [(1 * 10 + 1 + c * 100 + 1) % 256 for c in range(3)]
    assert xt[1, 2, 3].tolist() == [(5 * 10 + 1 + c * 100 + 2 * 32 + 3) % 256 for c in range(3)]
    assert sorted(p.name for p in data_home.iterdir()) == ["cifar-10-binary.tar.gz"]
    assert datasets.CIFAR10(url=server.url("ok", "gone"), sha256=sha256(data))[1][1].tolist() \
        == [5, 6]  # cached: no download


@pytest.mark.parametrize("sizes, record, problem", [
    ({**CIFAR_SIZES, "test_batch.bin": 0}, 3073, "test_batch.bin is not whole records"),
    (CIFAR_SIZES, 3000, "data_batch_1.bin is not whole records"),
    ({k: v for k, v in CIFAR_SIZES.items() if k != "data_batch_3.bin"}, 3073,
     "data_batch_3.bin is missing")])
def test_cifar10_refuses_an_archive_of_other_contents(server, sizes, record, problem):
    data = _cifar_binary(server.root / "odd.tar.gz", sizes, record)
    with pytest.raises(ValueError, match=f"not the CIFAR-10 binary version: its {problem}"):
        datasets.CIFAR10(url=server.url("ok", "odd.tar.gz"), sha256=sha256(data))


def test_face_files_writes_the_embedded_faces_once(tmp_path):
    files = datasets.face_files(tmp_path / "faces")
    assert len(files) == 200 and files == sorted(files)
    first = np.asarray(Image.open(files[0]))
    np.testing.assert_array_equal(first, datasets.faces(25)[0, ..., 0])
    stamp = os.path.getmtime(files[0])
    assert datasets.face_files(tmp_path / "faces") == files  # second call: nothing rewritten
    assert os.path.getmtime(files[0]) == stamp
    os.remove(files[5])  # an incomplete folder is completed
    assert all(os.path.isfile(f) for f in datasets.face_files(tmp_path / "faces"))


def test_face_files_never_delete_or_overwrite_what_else_the_folder_holds(tmp_path):
    folder = tmp_path / "faces"
    (folder / "photos").mkdir(parents=True)
    (folder / "photos" / "me.jpg").write_bytes(b"my face")
    (folder / "thesis.tex").write_text("years of work")
    (folder / "face_007.png").write_bytes(b"my own face_007")
    files = datasets.face_files(folder)
    assert (folder / "photos" / "me.jpg").read_bytes() == b"my face"
    assert (folder / "thesis.tex").read_text() == "years of work"
    assert (folder / "face_007.png").read_bytes() == b"my own face_007"
    np.testing.assert_array_equal(np.asarray(Image.open(files[8])), datasets.faces(25)[8, ..., 0])
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [os.path.basename(f) for f in files] + ["photos", "thesis.tex"])  # no temporary files


def test_extracted_folders_get_the_modes_of_a_normal_mkdir(tmp_path):
    archive = _zip(tmp_path / "a.zip", {"top/x.txt": "x"})
    old = os.umask(0o022)
    try:
        out = downloads.extract(archive, tmp_path / "out")
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
