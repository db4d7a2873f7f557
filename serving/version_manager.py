"""Tracks the versions of one model on disk: load, serve, retire.

Follows TF Serving's availability-preserving policy: a new version is loaded
(and warmed up) before any old one is unloaded, an old version is unloaded only
once no request holds it, and a version that fails to load is reported but
never replaces the one already serving.
"""

import logging
import os
import threading
import time

import grpc
from tensorflow_serving.apis import get_model_status_pb2

from serving.errors import ServingError, not_found

log = logging.getLogger(__name__)

State = get_model_status_pb2.ModelVersionStatus.State


class VersionEntry:
    """Book-keeping for one version directory."""

    def __init__(self, version, path):
        self.version = version
        self.path = path
        self.state = State.START
        self.error = None  # ServingError when the last load failed
        self.servable = None
        self.refs = 0
        self.fingerprint = None
        self.failures = 0  # consecutive failed loads of this directory content
        self.failed_at = 0.0


class Handle:
    """Keeps a version loaded while a request runs on it."""

    def __init__(self, manager, entry):
        self._manager = manager
        self._entry = entry
        self.servable = entry.servable

    @property
    def version(self):
        return self._entry.version

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._manager._release(self._entry)


def _fingerprint(path):
    # Changes when saved_model.pb appears or is rewritten, which is what makes
    # retrying a failed load worthwhile.
    stamps = []
    for name in ("saved_model.pb", "saved_model.pbtxt"):
        try:
            stamps.append(os.stat(os.path.join(path, name)).st_mtime_ns)
        except OSError:
            stamps.append(None)
    return tuple(stamps)


def list_versions(base_path):
    """Numeric child directories of base_path as {version: path}, or None if
    base_path cannot be read (a transient error must not unload anything)."""
    try:
        names = os.listdir(base_path)
    except OSError as exc:
        log.debug("Cannot read base path %s: %s", base_path, exc)
        return None
    versions = {}
    for name in names:
        path = os.path.join(base_path, name)
        # isascii: str.isdigit() also takes '١٢٤' (read as 124) and '²' (which int() refuses).
        if name.isascii() and name.isdigit() and os.path.isdir(path):
            versions[int(name)] = path
    return versions


def aspired(policy, available):
    """Applies a ServableVersionPolicy to the versions found on disk."""
    which = policy.WhichOneof("policy_choice")
    if which == "all":
        return dict(available)
    if which == "specific":
        wanted = set(policy.specific.versions)
        return {v: p for v, p in available.items() if v in wanted}
    count = policy.latest.num_versions if which == "latest" else 1
    count = count or 1
    newest = sorted(available, reverse=True)[:count]
    return {v: available[v] for v in newest}


class ModelVersions:
    """All versions of one model; loads run on the caller's (poll) thread."""

    def __init__(self, model_config, loader, on_load=None, max_load_retries=5,
                 load_retry_interval=60.0):
        self.config = model_config
        self._loader = loader  # (name, version, path) -> Servable, may raise
        self._on_load = on_load
        self._max_retries = max_load_retries
        self._retry_interval = load_retry_interval
        self._cond = threading.Condition()
        self._entries = {}
        self._unloaders = []
        self._unreadable = False

    @property
    def name(self):
        return self.config.name

    def update_config(self, model_config):
        self.config = model_config

    def poll(self):
        """One reconcile step: load aspired versions, retire replaced ones."""
        found = list_versions(self.config.base_path)
        if found is None:
            # Said once, not at every poll: a server may well start before the first push.
            if not self._unreadable:
                log.warning("Model %s: cannot read its base path %s (yet); serving it once versions appear",
                            self.name, self.config.base_path)
            self._unreadable = True
            return
        if self._unreadable:
            log.info("Model %s: base path %s is readable now", self.name, self.config.base_path)
            self._unreadable = False
        wanted = aspired(self.config.model_version_policy, found)
        for version in sorted(wanted, reverse=True):
            self._maybe_load(version, wanted[version])
        self._retire(wanted)

    def _maybe_load(self, version, path):
        with self._cond:
            previous = self._entries.get(version)
            if previous is not None:
                if previous.state != State.END:
                    return
                if previous.error is not None and not self._should_retry(previous, path):
                    return
            entry = VersionEntry(version, path)
            entry.state = State.LOADING
            entry.fingerprint = _fingerprint(path)
            if previous is not None and previous.fingerprint == entry.fingerprint:
                entry.failures = previous.failures
            self._entries[version] = entry
        log.info("Loading servable: {name: %s version: %d}", self.name, version)
        try:
            servable = self._loader(self.name, version, path)
        except ServingError as exc:
            self._fail(entry, exc)
        except Exception as exc:  # a broken model must not kill the poller
            self._fail(entry, ServingError(grpc.StatusCode.UNKNOWN, str(exc)))
        else:
            with self._cond:
                entry.servable = servable
                entry.state = State.AVAILABLE
            log.info("Successfully loaded servable version {name: %s version: %d}",
                     self.name, version)
            if self._on_load:
                self._on_load(self.name, version, path, None)

    def _should_retry(self, entry, path):
        """A failed version is retried at once when its saved_model.pb changes,
        and otherwise like TF Serving: up to max_num_load_retries times,
        load_retry_interval_micros apart (a copy may still be in progress)."""
        if entry.fingerprint != _fingerprint(path):
            return True
        return (entry.failures <= self._max_retries and
                time.monotonic() - entry.failed_at >= self._retry_interval)

    def _fail(self, entry, error):
        log.error("Loading servable: {name: %s version: %d} failed: %s",
                  self.name, entry.version, error)
        with self._cond:
            entry.error = error
            entry.state = State.END
            entry.failures += 1
            entry.failed_at = time.monotonic()
        if self._on_load:
            self._on_load(self.name, entry.version, entry.path, error)

    def _retire(self, wanted):
        with self._cond:
            wanted_available = any(
                e.state == State.AVAILABLE
                for v, e in self._entries.items() if v in wanted
            )
            if wanted and not wanted_available:
                return  # keep serving the old versions until a new one is up
            for version, entry in self._entries.items():
                if version not in wanted and entry.state == State.AVAILABLE:
                    self._start_unload(entry)

    def _start_unload(self, entry):
        entry.state = State.UNLOADING
        thread = threading.Thread(
            target=self._unload, args=(entry,), daemon=True,
            name=f"unload-{self.name}-{entry.version}")
        self._unloaders = [t for t in self._unloaders if t.is_alive()]
        self._unloaders.append(thread)
        thread.start()

    def _unload(self, entry):
        with self._cond:
            # In-flight requests finish on this version before it goes away.
            while entry.refs:
                self._cond.wait()
            entry.servable = None
            entry.state = State.END
        log.info("Unloaded servable version {name: %s version: %d}",
                 self.name, entry.version)

    def retire_all(self, wait=True, timeout=30.0):
        with self._cond:
            for entry in self._entries.values():
                if entry.state == State.AVAILABLE:
                    self._start_unload(entry)
        if wait:
            # Bounded: a request stuck in a model must not hang shutdown.
            for thread in list(self._unloaders):
                thread.join(timeout)

    def acquire(self, version=None):
        """A Handle on the requested (or highest available) version."""
        with self._cond:
            if version is None:
                ready = [v for v, e in self._entries.items()
                         if e.state == State.AVAILABLE]
                if not ready:
                    raise not_found(
                        f"Servable not found for request: Latest({self.name})")
                entry = self._entries[max(ready)]
            else:
                entry = self._entries.get(version)
                if entry is None or entry.state != State.AVAILABLE:
                    raise not_found(
                        "Servable not found for request: "
                        f"Specific({self.name}, {version})")
            entry.refs += 1
            return Handle(self, entry)

    def _release(self, entry):
        with self._cond:
            entry.refs -= 1
            if entry.refs == 0:
                self._cond.notify_all()

    def is_available(self, version):
        with self._cond:
            entry = self._entries.get(version)
            return entry is not None and entry.state == State.AVAILABLE

    def statuses(self):
        """[(version, state, error)] for every tracked version, oldest first."""
        with self._cond:
            return [(v, e.state, e.error) for v, e in sorted(self._entries.items())]
