"""The embedded broker: a message is seen whole or not at all (the worker test's flake)."""

import os

from kombu import Connection

from portal.lib import filesystem_broker


def channel(folder):
    connection = Connection(
        "filesystem://",
        transport="portal.lib.filesystem_broker:Transport",
        transport_options={
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "processed_folder": str(folder),
            "control_folder": str(folder),
            "store_processed": False,
        },
    )
    return connection.channel()


def test_a_message_is_invisible_to_workers_until_it_is_whole(tmp_path, monkeypatch):
    seen_while_writing = []
    real_fsync = os.fsync

    def look(descriptor):
        # The payload is written, not yet renamed: what would a worker listing the folder see?
        seen_while_writing.extend(os.listdir(tmp_path))
        return real_fsync(descriptor)

    monkeypatch.setattr(filesystem_broker.os, "fsync", look)
    queue = channel(tmp_path)
    payload = {"body": "x" * 200_000}
    queue._put("celery", payload)
    assert seen_while_writing, "the write was not observed"
    assert not [name for name in seen_while_writing if name.endswith(".msg")]
    assert queue._get("celery") == payload


def test_the_portal_uses_it_for_the_embedded_broker():
    from portal.celery import app

    assert app.conf.broker_url.startswith("filesystem://"), "make test uses the embedded broker"
    with app.connection_for_write() as connection:
        assert isinstance(connection.transport, filesystem_broker.Transport)
