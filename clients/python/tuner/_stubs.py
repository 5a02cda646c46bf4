"""The gRPC stubs of proto/tuner.proto, generated with protoc and grpc_python_plugin (Debian's
protobuf-compiler and protobuf-compiler-grpc): by install.sh into tuner/_proto, or on first use
from a source checkout into a cache directory keyed by the proto's hash."""
import hashlib
import importlib
import os
import shutil
import subprocess
import sys
import tempfile

_HERE = os.path.dirname(os.path.abspath(__file__))
PLUGIN = "/usr/bin/grpc_python_plugin"


def generate(proto_file, out_dir):
    """Writes tuner_pb2.py and tuner_pb2_grpc.py (importing each other as a package) to out_dir."""
    protoc = shutil.which("protoc")
    plugin = shutil.which("grpc_python_plugin") or PLUGIN
    if protoc is None or not os.path.exists(plugin):
        raise RuntimeError("generating the tuner stubs needs protoc and grpc_python_plugin: "
                           "apt-get install protobuf-compiler protobuf-compiler-grpc")
    os.makedirs(out_dir, exist_ok=True)
    subprocess.run([protoc, f"--proto_path={os.path.dirname(proto_file)}",
                    f"--python_out={out_dir}", f"--grpc_python_out={out_dir}",
                    f"--plugin=protoc-gen-grpc_python={plugin}", os.path.basename(proto_file)],
                   check=True)
    grpc_file = os.path.join(out_dir, "tuner_pb2_grpc.py")
    with open(grpc_file, encoding="utf-8") as f:
        text = f.read()
    with open(grpc_file, "w", encoding="utf-8") as f:
        f.write(text.replace("import tuner_pb2 as tuner__pb2", "from . import tuner_pb2 as tuner__pb2"))
    with open(os.path.join(out_dir, "__init__.py"), "w", encoding="utf-8") as f:
        f.write("")


def _source_proto():
    # clients/python/tuner/_stubs.py -> <repo>/proto/tuner.proto
    candidate = os.path.normpath(os.path.join(_HERE, "..", "..", "..", "proto", "tuner.proto"))
    return candidate if os.path.exists(candidate) else None


def load():
    """(tuner_pb2, tuner_pb2_grpc)."""
    try:
        pb2 = importlib.import_module("tuner._proto.tuner_pb2")
        return pb2, importlib.import_module("tuner._proto.tuner_pb2_grpc")
    except ImportError:
        pass
    proto = _source_proto()
    if proto is None:
        raise ImportError("the tuner gRPC stubs are missing: install the client with "
                          "clients/python/install.sh")
    with open(proto, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    root = os.path.join(cache, "tuner-python", digest)
    package = os.path.join(root, "tuner_stubs")
    if not os.path.exists(os.path.join(package, "tuner_pb2_grpc.py")):
        os.makedirs(root, exist_ok=True)
        scratch = tempfile.mkdtemp(dir=root)
        generate(proto, scratch)
        try:
            os.rename(scratch, package)
        except OSError:  # another process got there first
            shutil.rmtree(scratch, ignore_errors=True)
    if root not in sys.path:
        sys.path.insert(0, root)
    return (importlib.import_module("tuner_stubs.tuner_pb2"),
            importlib.import_module("tuner_stubs.tuner_pb2_grpc"))
