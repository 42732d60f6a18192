"""Where data comes from: embedded offline defaults and verified real datasets.

Offline, always available: `faces()` (LFW crops shipped with scikit-image; `face_files()` writes
them as PNGs for the file pipeline), `ALICE()` (Alice in Wonderland, embedded as the original
course shipped it), `corpus()` (text from the Python standard library), `digits()` (MNIST-like
digits rendered from matplotlib's fonts) and `load_text(path)` for your own text.

Real data, cached in `downloads.data_dir()` and checksum-verified: `CELEB()` (and its labels,
`CELEB_ATTRIBUTES()`), `MNIST()`, `CIFAR10()`. Every download goes through
`downloads.download()`, every archive that is unpacked through `downloads.extract()`.
"""
import ast
import functools
import gzip
import inspect
import os
import pathlib
import sysconfig
import tarfile

import numpy as np

from libs.arguments import check_int
from libs.downloads import ENV_VAR, data_dir, download, extract, hash_mismatch
from libs.files import write_bytes_atomic

CELEB_PAGE = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"


# --- Embedded defaults: no network, ever -------------------------------------------------------

@functools.lru_cache(maxsize=8)
def _faces(size: int) -> np.ndarray:
    from skimage.data import lfw_subset
    from skimage.transform import resize

    faces = lfw_subset()[:100]  # (100, 25, 25) in [0, 1]; images 100-199 are not faces
    small = resize(faces, (100, size, size), order=1, anti_aliasing=True, mode="reflect")
    small = np.clip(np.round(small * 255.0), 0, 255).astype(np.uint8)
    images = np.concatenate([small, small[:, :, ::-1]])[..., None]  # 100-199: mirrors
    images.flags.writeable = False
    return images


def faces(size: int = 32) -> np.ndarray:
    """200 greyscale faces, uint8 (200, size, size, 1) in [0, 255], no download needed.

    The 100 face crops of scikit-image's LFW subset, resized with anti-aliasing, followed by
    their left-right mirrors (image i + 100 is image i flipped).
    """
    return _faces(check_int("size", size, 8)).copy()


def face_files(folder=None) -> list[str]:
    """The embedded faces as image files, for the file-based pipeline the lecture builds.

    Writes `faces(25)` (the LFW crops at their own 25x25 size) as face_000.png ...
    face_199.png into `folder` (default data_dir()/faces) and returns their sorted paths. Only
    the missing ones are written, each atomically; nothing else in the folder is touched.
    """
    from imageio.v3 import imwrite

    folder = pathlib.Path(folder).expanduser() if folder else data_dir() / "faces"
    images = faces(25)
    paths = [folder / f"face_{i:03d}.png" for i in range(len(images))]
    for path, image in zip(paths, images):
        if not path.is_file():
            write_bytes_atomic(path, imwrite("<bytes>", image[..., 0], extension=".png"))
    return [str(path) for path in paths]


def _docstrings(path: pathlib.Path):
    """Module, class and function docstrings of a source file, in source order, cleaned."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    nodes = [tree] + sorted((n for n in ast.walk(tree) if isinstance(
        n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))), key=lambda n: n.lineno)
    for node in nodes:
        doc = ast.get_docstring(node, clean=False)
        if doc and doc.strip():
            yield inspect.cleandoc(doc)


@functools.lru_cache(maxsize=1)
def corpus() -> str:
    """About 600,000 characters of English text found wherever Python is installed.

    The Python language reference help topics (`pydoc_data.topics`, sorted by key) followed by
    docstrings of the top-level standard-library modules (read with `ast`, not imported),
    separated by blank lines. Deterministic for a given Python installation.
    """
    pieces, total = [], 0
    try:
        from pydoc_data.topics import topics
    except ImportError:  # some minimal Python builds leave it out
        topics = {}
    for key in sorted(topics):
        pieces.append(topics[key].strip())
        total += len(pieces[-1]) + 2
    stdlib = pathlib.Path(sysconfig.get_paths()["stdlib"])
    files = sorted(stdlib.glob("*.py")) if stdlib.is_dir() else []
    for path in files:
        if total >= 600_000:
            break
        try:
            docs = list(_docstrings(path))
        except (SyntaxError, ValueError, OSError):
            continue
        pieces += docs
        total += sum(len(doc) + 2 for doc in docs)
    text = "\n\n".join(pieces) + "\n"
    if len(text) < 500_000:
        raise RuntimeError(f"Only {len(text):,} characters of text were found in this Python "
                           f"installation ({stdlib}); at least 500,000 are needed. Use "
                           "load_text(path) with a text file of your own instead.")
    return text


def load_text(path) -> str:
    """Read a UTF-8 text file, with newlines normalised to \\n."""
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"No such text file: {path}")
    data = path.read_bytes()
    if not data.strip():
        raise ValueError(f"{path} is empty; a text file with some content is needed.")
    if b"\x00" in data:
        raise ValueError(f"{path} is not a text file (it contains NUL bytes).")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not UTF-8 text ({e}). Convert it to UTF-8 first.") from e
    return text.replace("\r\n", "\n").replace("\r", "\n")


_DIGIT_FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf",
                "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf",
                "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "STIXGeneral.ttf",
                "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "cmr10.ttf")


@functools.lru_cache(maxsize=1)
def _fonts():
    import matplotlib
    from PIL import ImageFont

    folder = pathlib.Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    fonts = [ImageFont.truetype(str(folder / name), 72)
             for name in _DIGIT_FONTS if (folder / name).is_file()]
    if not fonts:
        raise RuntimeError(f"No TrueType fonts found in {folder}; is matplotlib installed?")
    return fonts


@functools.lru_cache(maxsize=None)
def _glyph(label, font, stroke_width, canvas):
    """The digit `label` drawn upright in `font`, white on a black square `canvas` wide."""
    from PIL import Image, ImageDraw

    img = Image.new("L", (canvas, canvas), 0)
    ImageDraw.Draw(img).text((canvas / 2, canvas / 2), str(label), fill=255, font=font,
                             anchor="mm", stroke_width=stroke_width, stroke_fill=255)
    return img


def _render_digit(label, font, rng, canvas=112):
    """One digit, white on black, uint8 (28, 28), jittered and centred like MNIST."""
    from PIL import Image

    img = _glyph(label, font, int(rng.integers(0, 4)), canvas)
    a, shear = np.deg2rad(rng.uniform(-15, 15)), rng.uniform(-0.3, 0.3)
    rotate = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    inv = np.linalg.inv(rotate @ [[1.0, shear], [0.0, 1.0]])  # PIL maps output to input pixels
    offset = canvas / 2 - inv @ [canvas / 2, canvas / 2]  # about the canvas centre
    img = img.transform(img.size, Image.AFFINE, (*inv[0], offset[0], *inv[1], offset[1]),
                        resample=Image.BILINEAR)
    img = img.crop(img.getbbox())
    box = 20.0 * rng.uniform(0.8, 1.1)  # MNIST fits digits in a 20x20 box
    k = box / max(img.size)
    w, h = max(1, round(img.size[0] * k)), max(1, round(img.size[1] * k))
    small = np.asarray(img.resize((w, h), Image.LANCZOS), dtype=np.float64)
    ys, xs = np.indices(small.shape)
    mass = small.sum() or 1.0
    cy, cx = (ys * small).sum() / mass, (xs * small).sum() / mass
    shift = rng.uniform(-1.5, 1.5, size=2)  # centre of mass near the middle, like MNIST
    top = int(np.clip(round(14 + shift[0] - cy), 0, 28 - h))
    left = int(np.clip(round(14 + shift[1] - cx), 0, 28 - w))
    out = np.zeros((28, 28), np.uint8)
    out[top:top + h, left:left + w] = np.clip(small, 0, 255).astype(np.uint8)
    return out


def digits(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-like digits made offline: images uint8 (n, 28, 28, 1) white on black, labels int64.

    Each digit 0-9 is drawn with one of matplotlib's fonts and a random stroke width, rotated
    (+-15 degrees), sheared, scaled and shifted, then fitted in 20x20 and centred by mass in
    28x28. The same `seed` gives the same data.
    """
    images, labels = _digits(check_int("n", n, 1), int(seed))
    return images.copy(), labels.copy()


@functools.lru_cache(maxsize=4)
def _digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`digits`, rendered once per (n, seed) in a process (5,000 take a few seconds)."""
    rng = np.random.default_rng(seed)
    fonts = _fonts()
    labels = rng.integers(0, 10, size=n).astype(np.int64)
    images = np.stack([_render_digit(int(y), fonts[int(rng.integers(len(fonts)))], rng)
                       for y in labels])
    return images[..., None], labels


# --- Real data, cached in data_dir() -----------------------------------------------------------

def _jpegs(folder: pathlib.Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))


def _celeb_zip(archive: pathlib.Path, md5: str | None) -> list[str]:
    """Extract `name.zip` (once, after checking md5) to the sibling folder `name/`; list JPEGs."""
    folder = archive.with_suffix("")
    if not folder.is_dir():
        mismatch = hash_mismatch(archive, md5=md5)
        if mismatch:
            raise ValueError(f"{archive} failed verification ({mismatch}). Download it again "
                             f"from {CELEB_PAGE} or "
                             "pass md5=None if it is a different archive you trust.")
        extract(archive, folder)
    files = _jpegs(folder)
    if not files:
        raise FileNotFoundError(f"No JPEG images in {folder} (extracted from {archive}).")
    return files


def CELEB(path=None, *, url: str | None = None,
          md5: str | None = "00d2c5bc6d35e252742224ab0c1e8fcb") -> list[str]:
    """Sorted paths of the CelebA aligned face JPEGs (img_align_celeba/*.jpg).

    Looks at `path` (a folder searched recursively, or a zip), then data_dir()/img_align_celeba/,
    then data_dir()/img_align_celeba.zip, then downloads `url` if given. A zip `X.zip` is checked
    against `md5` (the official archive's) and extracted once to the folder `X/` beside it.
    """
    if path is not None:
        path = pathlib.Path(path).expanduser()
        if path.is_file():
            return _celeb_zip(path, md5)
        if not path.is_dir():
            raise FileNotFoundError(f"{path} is neither a folder of JPEGs nor a zip file.")
        files = _jpegs(path)
        if not files:
            raise FileNotFoundError(f"No .jpg images found (recursively) in {path}.")
        return files
    root = data_dir()
    folder, archive = root / "img_align_celeba", root / "img_align_celeba.zip"
    if folder.is_dir():
        files = _jpegs(folder)
        if not files:
            raise FileNotFoundError(f"{folder} exists but holds no .jpg images; remove it and "
                                    f"put img_align_celeba.zip at {archive}.")
        return files
    if archive.is_file():
        return _celeb_zip(archive, md5)
    if url is not None:
        return _celeb_zip(download(url, archive.name, md5=md5, cache_dir=root), md5)
    raise FileNotFoundError(
        f"CelebA is not present. Get img_align_celeba.zip ('Align&Cropped Images') from "
        f"{CELEB_PAGE} and put it at {archive} (or unzip it so the images are in {folder}/); "
        f"set {ENV_VAR} to use another folder. If you have a URL for the zip, "
        f"CELEB(url=...) downloads it. For an offline alternative use faces().")


CELEB_ATTRIBUTES_MD5 = "75e246fa4810816ffd6ee81facbd244c"  # the official list_attr_celeba.txt


@functools.lru_cache(maxsize=2)
def _celeb_attribute_table(path: pathlib.Path, modified: int) -> tuple[list, dict, np.ndarray]:
    """(names, file name -> row, bool (rows, 40)) of list_attr_celeba.txt as it was at time
    `modified` (ns): a count line, a line of attribute names, then one line per image: its file
    name and one 1 or -1 per name."""
    try:
        lines = path.read_text().splitlines()
        count, names = int(lines[0]), lines[1].split()
        rows = [line.split() for line in lines[2:] if line.strip()]
        values = np.array([row[1:] for row in rows], dtype=np.int8)
    except (ValueError, IndexError) as e:
        raise ValueError(f"{path} is not a CelebA attribute list ({e})") from e
    if values.shape != (count, len(names)):
        raise ValueError(f"{path} is not a CelebA attribute list: it announces {count} images "
                         f"of {len(names)} attributes but holds {values.shape}")
    return names, {row[0]: i for i, row in enumerate(rows)}, values > 0


def CELEB_ATTRIBUTES(files=None, path=None, *,
                     md5: str | None = CELEB_ATTRIBUTES_MD5) -> tuple[list[str], np.ndarray]:
    """CelebA's 40 binary labels ("Smiling", "Eyeglasses", "Male", ...) of each of `files`.

    Reads list_attr_celeba.txt (CelebA's Anno/ folder) at `path`, else in data_dir(), checked
    against `md5` (the official file's; None skips the check). files: image paths, matched by
    file name (default `CELEB()`). Returns (names, labels): the 40 names and a bool array
    (len(files), 40) whose row i holds the labels of files[i].
    """
    path = pathlib.Path(path).expanduser() if path is not None \
        else data_dir() / "list_attr_celeba.txt"
    if not path.is_file():
        raise FileNotFoundError(
            f"CelebA's labels are not present. Get list_attr_celeba.txt (in 'Anno', beside "
            f"'Align&Cropped Images') from {CELEB_PAGE} and put it at {path}.")
    mismatch = hash_mismatch(path, md5=md5)
    if mismatch:
        raise ValueError(f"{path} failed verification ({mismatch}). Download it again from "
                         f"{CELEB_PAGE} or pass md5=None if it is a different list you trust.")
    names, row_of, labels = _celeb_attribute_table(path.resolve(), path.stat().st_mtime_ns)
    files = CELEB() if files is None else [str(f) for f in files]
    missing = [f for f in files if os.path.basename(f) not in row_of]
    if missing:
        raise ValueError(f"{len(missing)} of the {len(files)} files have no labels in {path}, "
                         f"e.g. {missing[0]}; the list names CelebA's files (000001.jpg, ...)")
    return list(names), labels[[row_of[os.path.basename(f)] for f in files]]


# Alice's Adventures in Wonderland as the original course shipped it (CADL, session-5/alice.txt.gz,
# Project Gutenberg's edition #11, public domain in the USA, with Gutenberg's licence in the
# file), embedded here: 60 KB, no download.
ALICE_FILE = pathlib.Path(__file__).with_name("data") / "alice.txt.gz"
ALICE_SHA256 = "f1ef30c8d3a57f3e19ed6184b11ab821f13eee836abd511c5d99b810db551b0e"


@functools.lru_cache(maxsize=1)
def ALICE() -> str:
    """Alice's Adventures in Wonderland (Project Gutenberg #11), about 145,000 characters,
    without Gutenberg's header and footer: the text the lecture trained its character model on.

    Embedded in the package (`ALICE_FILE`, checked against `ALICE_SHA256`): no network, ever.
    """
    mismatch = hash_mismatch(ALICE_FILE, sha256=ALICE_SHA256) if ALICE_FILE.is_file() \
        else "the file is missing"
    if mismatch:
        raise OSError(f"the embedded {ALICE_FILE} is damaged ({mismatch}); reinstall the "
                      "package or restore the file from the repository")
    text = gzip.decompress(ALICE_FILE.read_bytes()).decode("utf-8-sig")
    text = text.replace("\r\n", "\n")
    text = text[text.index("*** START OF"):].partition("\n")[2]  # after the START line
    text = text.partition("*** END OF")[0].partition("End of Project Gutenberg")[0]
    return text.strip() + "\n"


MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR10_SHA256 = "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"
CIFAR10_FILES = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
CIFAR10_RECORD = 1 + 3 * 32 * 32  # a label byte, then 1024 red, 1024 green, 1024 blue bytes


def MNIST(*, url: str = MNIST_URL, sha256: str | None = MNIST_SHA256):
    """MNIST as ((x_train, y_train), (x_test, y_test)); x uint8 (N, 28, 28, 1), y uint8 (N,).

    The same file as keras.datasets.mnist, cached at data_dir()/mnist.npz.
    """
    path = download(url, "mnist.npz", sha256=sha256, cache_dir=data_dir())
    with np.load(path, allow_pickle=False) as f:
        x_train, y_train = f["x_train"], f["y_train"]
        x_test, y_test = f["x_test"], f["y_test"]
    return (x_train[..., None], y_train), (x_test[..., None], y_test)


def CIFAR10(*, url: str = CIFAR10_URL, sha256: str | None = CIFAR10_SHA256):
    """CIFAR-10 as ((x_train, y_train), (x_test, y_test)); x uint8 (N, 32, 32, 3), y uint8 (N,).

    The dataset's binary version, cached at data_dir()/cifar-10-binary.tar.gz and read straight
    from the archive that download() has just verified: plain bytes, nothing is unpickled (the
    Python version's pickles can run code) and nothing extracted that could change afterwards.
    """
    archive = download(url, "cifar-10-binary.tar.gz", sha256=sha256, cache_dir=data_dir())
    found = {}
    with tarfile.open(archive) as tar:
        for member in tar:  # in order: a compressed archive is read once, front to back
            name = os.path.basename(member.name)
            if member.isfile() and name in CIFAR10_FILES:
                found[name] = np.frombuffer(tar.extractfile(member).read(), np.uint8)
    for name in CIFAR10_FILES:
        if name not in found or not found[name].size or found[name].size % CIFAR10_RECORD:
            raise ValueError(f"{archive} is not the CIFAR-10 binary version: its {name} is "
                             f"{'missing' if name not in found else 'not whole records'} "
                             f"(records of {CIFAR10_RECORD} bytes)")

    def images_and_labels(names):  # x (N, 32, 32, 3), y (N,) of the records of these files
        records = np.concatenate([found[name] for name in names]).reshape(-1, CIFAR10_RECORD)
        return records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), records[:, 0]

    return images_and_labels(CIFAR10_FILES[:5]), images_and_labels(CIFAR10_FILES[5:])
