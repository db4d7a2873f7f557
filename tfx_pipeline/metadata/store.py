"""The ML Metadata store the pipeline's runs are recorded in: its connection config (SQLite file or MySQL
server, from the config's `metadata:` section) and opening it."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

from google.protobuf import json_format
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb


class MetadataUnavailable(RuntimeError):
    """The configured store cannot be reached; the message names it and what to do."""


def connection_config(config, readonly: bool = False, with_password: bool = True) -> Optional[pb.ConnectionConfig]:
    """The config's store; None for SQLite with a remote pipeline root and no paths.metadata (Kubeflow's case)."""
    store = config.metadata
    connection = pb.ConnectionConfig()
    if store.kind == "mysql":
        mysql = connection.mysql
        mysql.database, mysql.user = config.metadata_database, store.user
        if store.host:
            mysql.host, mysql.port = store.host, store.port
        else:
            mysql.socket = str(store.server_socket)
        if with_password and store.password_env:
            mysql.password = password(store.password_env)
        return connection
    if config.metadata_path is None:
        return None
    connection.sqlite.filename_uri = str(config.metadata_path)
    connection.sqlite.connection_mode = (pb.SqliteMetadataSourceConfig.READONLY if readonly else
                                         pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE)
    return connection


def password(variable: str) -> str:
    if variable not in os.environ:
        raise MetadataUnavailable(f"metadata.password_env names {variable}, which is not set in this environment")
    return os.environ[variable]


def as_text(connection: Optional[pb.ConnectionConfig]) -> str:
    """A component parameter: the connection without its password (a parameter is stored in ML Metadata). Sorted
    compact JSON, the same text in every process whatever its protobuf implementation: the parameter is part of
    the component's cache key."""
    if connection is None:
        return ""
    fields = json_format.MessageToDict(connection, preserving_proto_field_name=True)
    fields.get("mysql", {}).pop("password", None)
    return json.dumps(fields, sort_keys=True, separators=(",", ":"))


def from_text(text: str, password_env: str = "") -> pb.ConnectionConfig:
    connection = json_format.ParseDict(json.loads(text), pb.ConnectionConfig())
    if password_env and connection.HasField("mysql"):
        connection.mysql.password = password(password_env)
    return connection


def exists(connection: Optional[pb.ConnectionConfig]) -> bool:
    """Whether anything can have been recorded yet: a SQLite file that exists, or any MySQL server."""
    if connection is None:
        return False
    return connection.HasField("mysql") or Path(connection.sqlite.filename_uri).is_file()


def open_connection(connection: pb.ConnectionConfig) -> metadata_store.MetadataStore:
    try:
        return metadata_store.MetadataStore(connection)
    except Exception as exc:  # MLMD raises its own errors and RuntimeError alike for a server that is not there
        if not connection.HasField("mysql"):
            raise
        mysql = connection.mysql
        where = mysql.socket or f"{mysql.host}:{mysql.port}"
        raise MetadataUnavailable(
            f"ML Metadata's MySQL database {mysql.database} at {where} cannot be opened ({exc}); a project-local "
            "server (metadata.local_server) starts with `mlops run` or `mlops airflow up`") from exc


def open_store(config, readonly: bool = True) -> Optional[metadata_store.MetadataStore]:
    """The config's store, or None when nothing has been recorded in it yet (no SQLite file)."""
    connection = connection_config(config, readonly=readonly)
    return open_connection(connection) if exists(connection) else None


def open_sqlite(path: Path) -> metadata_store.MetadataStore:
    """A SQLite store named by its file, read-only (a store another process may be writing)."""
    connection = pb.ConnectionConfig()
    connection.sqlite.filename_uri = str(path)
    connection.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(connection)
