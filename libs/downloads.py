"""Downloads: the data directory, verified downloads and safe extraction.

Every download of the library goes through `download()` (keras.utils.get_file to a partial
file, checked against its checksum, renamed into place) and every archive it unpacks through
`extract()` (no entry may land outside the target). `data_dir()` is where they are cached.
"""
import hashlib
import os
import pathlib
import shutil
import tarfile
import urllib.error
import zipfile

from libs.files import temporary_sibling

ENV_VAR = "CADL_DATA_DIR"


class DownloadError(OSError):
    """A download failed or its checksum did not match; nothing was left in the cache."""


def data_dir() -> pathlib.Path:
    """The data directory: $CADL_DATA_DIR, else the repository's data/, else ~/.cadl/data."""
    if os.environ.get(ENV_VAR):
        path = pathlib.Path(os.environ[ENV_VAR]).expanduser().absolute()
    else:
        root = pathlib.Path(__file__).resolve().parent.parent
        # Only a source checkout has setup.py next to data/; an installed package falls through.
        if (root / "data").is_dir() and (root / "setup.py").is_file():
            path = root / "data"
        else:
            path = pathlib.Path.home() / ".cadl" / "data"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PermissionError(f"Cannot create the data directory {path} ({e}). Set the "
                              f"environment variable {ENV_VAR} to a writable folder.") from e
    if not os.access(path, os.W_OK):
        raise PermissionError(f"The data directory {path} is not writable. "
                              f"Set the environment variable {ENV_VAR} to a writable folder.")
    return path


# --- Download and extraction -------------------------------------------------------------------

def file_hash(path: pathlib.Path, algorithm: str = "sha256") -> str:
    """The hex digest of a file, read in 1 MiB blocks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def hash_mismatch(path, sha256=None, md5=None) -> str | None:
    """None if `path` matches every given hash, else a sentence saying expected vs got."""
    for algorithm, expected in (("sha256", sha256), ("md5", md5)):
        if expected is not None:
            got = file_hash(path, algorithm)
            if got != expected.lower():
                return f"{algorithm} checksum mismatch: expected {expected}, got {got}"
    return None


def _reason(exc: BaseException) -> str:
    """Why a download failed, from the exception keras raised and the ones it chains."""
    seen = exc
    while seen is not None:
        if isinstance(seen, urllib.error.HTTPError):
            return f"HTTP status {seen.code} {seen.reason}"
        if isinstance(seen, urllib.error.ContentTooShortError):
            return f"truncated download ({seen.reason})"
        if isinstance(seen, urllib.error.URLError):
            seen = seen.reason  # refused, reset, DNS or TLS failure
            if not isinstance(seen, ConnectionError):
                return f"connection failed ({seen})"
        if isinstance(seen, ConnectionRefusedError):
            return f"connection refused ({seen})"
        if isinstance(seen, ConnectionError):
            return f"connection dropped ({seen})"
        seen = seen.__cause__ or seen.__context__
    return str(exc) or repr(exc)


def download(url: str, fname: str, *, sha256: str | None = None, md5: str | None = None,
             cache_dir=None) -> pathlib.Path:
    """Return `cache_dir/fname`, downloading `url` there first unless it is cached and verified.

    The file is fetched with `keras.utils.get_file` to `fname.<pid>.part` in the same folder,
    checked against `sha256` and/or `md5` (recommended; required for the built-in sources), then
    renamed into place. Any failure removes the partial file and raises `DownloadError`.
    TLS certificates are always verified.
    """
    if not fname or os.sep in fname or fname in (".", ".."):
        raise ValueError(f"fname must be a plain file name, got {fname!r}")
    folder = pathlib.Path(cache_dir).expanduser().absolute() if cache_dir else data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    if not os.access(folder, os.W_OK):
        # get_file would silently fall back to /tmp/.keras; refuse instead.
        raise PermissionError(f"Cannot write to {folder}; pass cache_dir= or set {ENV_VAR}.")
    final = folder / fname
    if final.exists() and hash_mismatch(final, sha256, md5) is None:
        return final

    from keras.utils import get_file  # imported here: keras pulls in TensorFlow

    part = folder / f"{fname}.{os.getpid()}.part"
    advice = f"Download it yourself and place it at {final}"
    try:
        try:
            # We verify the hash ourselves below so the message can say expected vs got.
            get_file(fname=part.name, origin=url, cache_dir=str(folder), cache_subdir=".",
                     force_download=True)
        except Exception as e:  # get_file re-raises HTTP/URL errors as a plain Exception
            raise DownloadError(f"Could not download {url}: {_reason(e)}. {advice}.") from e
        mismatch = hash_mismatch(part, sha256, md5)
        if mismatch:
            raise DownloadError(f"Downloaded {url} but it failed verification ({mismatch}). "
                                f"It may be corrupt or the source changed. {advice} "
                                "after checking it.")
        os.replace(part, final)
    finally:  # also on Ctrl-C, which propagates as KeyboardInterrupt
        part.unlink(missing_ok=True)
    if sha256 is None and md5 is None:
        print(f"Note: {final.name} was not checksum-verified; pass sha256= to verify it.")
    return final


def _check_member(name: str, target: pathlib.Path, link: str | None = None) -> None:
    """Raise ValueError unless archive entry `name` (and its link target) stays inside target."""
    root = target.resolve()
    where = (root / name).resolve()
    if os.path.isabs(name) or (where != root and root not in where.parents):
        raise ValueError(f"Archive entry {name!r} would be written outside {target}; refusing.")
    if link is not None:
        dest = (where.parent / link).resolve()
        if os.path.isabs(link) or (dest != root and root not in dest.parents):
            raise ValueError(f"Archive entry {name!r} links to {link!r}, outside {target}; "
                             "refusing.")


def extract(archive: pathlib.Path, target: pathlib.Path) -> pathlib.Path:
    """Safely extract a .zip or .tar(.gz|.bz2|.xz) `archive` into the new folder `target`.

    Every entry must stay inside `target` (no absolute paths, `..`, or links pointing out),
    else ValueError names the entry and nothing is extracted. Extraction goes to a temporary
    sibling folder that is renamed to `target` at the end. Returns `target`.
    """
    archive, target = pathlib.Path(archive), pathlib.Path(target).absolute()
    if target.exists():
        raise FileExistsError(f"{target} already exists; remove it to extract {archive} again.")
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                link = None
                if (info.external_attr >> 16) & 0o170000 == 0o120000:  # a symbolic link
                    try:
                        link = zf.read(info).decode()
                    except UnicodeDecodeError:
                        raise ValueError(f"Archive entry {info.filename!r} is a link whose "
                                         "target is not UTF-8 text; refusing.") from None
                _check_member(info.filename, target, link)
            _into_place(zf.extractall, target)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            members = tf.getmembers()
            for m in members:
                if not (m.isfile() or m.isdir() or m.issym() or m.islnk()):
                    raise ValueError(f"Archive entry {m.name!r} is a device or fifo; refusing.")
                _check_member(m.name, target, m.linkname if m.issym() else None)
                if m.islnk():  # hard links name a path relative to the archive root
                    _check_member(m.linkname, target)
            # The "data" filter (Python >= 3.11.4) repeats these checks inside tarfile.
            kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            _into_place(lambda tmp: tf.extractall(tmp, members=members, **kwargs), target)
    else:
        raise ValueError(f"{archive} is neither a zip nor a tar archive.")
    return target


def _into_place(write, target: pathlib.Path) -> None:
    """Run write(tmp) on a temporary sibling folder of `target`, then rename it to `target`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(target, os.mkdir)  # the modes of a new folder, not mkdtemp's 0700
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
