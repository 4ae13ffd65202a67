"""The local server's front ends bind their ports alone: a port another server holds is one
clear error (exit 2 from the command), never a second listener sharing it."""
import socket

import pytest

from alexnet_tf import command
from alexnet_tf.export import serving_front_ends


class _NoModel:
    """The one thing LocalServer reads from its servable before a request comes."""
    version_dir = "/models/alexnet/1"


def _server():
    return serving_front_ends.LocalServer(_NoModel())


def test_a_grpc_port_in_use_is_an_error_not_a_shared_port():
    first = _server()
    ports = first.start(grpc_port=0, rest_port=0)
    try:
        with pytest.raises(serving_front_ends.PortInUseError,
                           match=f"gRPC port {ports['grpc']} on 127.0.0.1 is in use"):
            _server().start(grpc_port=ports["grpc"], rest_port=0)
        with pytest.raises(serving_front_ends.PortInUseError,
                           match=f"REST port {ports['rest']} on 127.0.0.1 is in use"):
            _server().start(grpc_port=0, rest_port=ports["rest"])
    finally:
        first.stop()
    assert issubclass(serving_front_ends.PortInUseError, command.UserError)


def test_a_refused_rest_port_leaves_no_grpc_listener_behind():
    """The gRPC port of a start that failed on its REST port is free again."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    grpc_port = probe.getsockname()[1]
    probe.close()
    try:
        with pytest.raises(serving_front_ends.PortInUseError):
            _server().start(grpc_port=grpc_port, rest_port=holder.getsockname()[1])
    finally:
        holder.close()
    again = _server()
    assert again.start(grpc_port=grpc_port, rest_port=0)["grpc"] == grpc_port
    again.stop()
