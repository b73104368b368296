"""tests/helper/wlpb.py - what the Python Workload API and gRPC clients of
the tests share: message classes from a protoc descriptor set, the
concatenated DER of the Workload API, gRPC status of a call.

Imported by tests/integration/agent_wl.py, tests/interop/wl_python.py and
tests/interop/grpc_python.py (each puts this directory on sys.path)."""
import base64
import os
import subprocess

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

# The Workload API messages (workload.proto's package is empty).
WORKLOAD_MESSAGES = [
    "X509SVIDRequest", "X509SVIDResponse", "X509BundlesRequest",
    "X509BundlesResponse", "JWTSVIDRequest", "JWTSVIDResponse",
    "JWTBundlesRequest", "JWTBundlesResponse", "ValidateJWTSVIDRequest",
    "ValidateJWTSVIDResponse", "WITSVIDRequest", "WITSVIDResponse",
    "WITBundlesRequest", "WITBundlesResponse"]


def load_classes(path, names=WORKLOAD_MESSAGES, package=""):
    """Message classes {name: class} for names (in package) from the
    FileDescriptorSet at path."""
    fds = descriptor_pb2.FileDescriptorSet()
    with open(path, "rb") as f:
        fds.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for fd in fds.file:
        pool.Add(fd)

    def cls(name):
        desc = pool.FindMessageTypeByName(package + name)
        if hasattr(message_factory, "GetMessageClass"):
            return message_factory.GetMessageClass(desc)
        # Debian 12's python3-protobuf (3.21)
        return message_factory.MessageFactory(pool).GetPrototype(desc)

    return {n: cls(n) for n in names}


def code_of(fn):
    """(status code, details) of calling fn; (OK, None) when it returns."""
    try:
        fn()
    except grpc.RpcError as e:
        return e.code(), e.details()
    return grpc.StatusCode.OK, None


def split_der(blob):
    """Splits concatenated DER certificates."""
    out, i = [], 0
    while i < len(blob):
        if blob[i] != 0x30:
            raise ValueError("not a DER SEQUENCE at %d" % i)
        n = blob[i + 1]
        if n < 0x80:
            hl, ln = 2, n
        else:
            k = n & 0x7F
            hl, ln = 2 + k, int.from_bytes(blob[i + 2:i + 2 + k], "big")
        out.append(blob[i:i + hl + ln])
        i += hl + ln
    return out


def pem(ders):
    """PEM text (bytes) of DER certificates."""
    out = b""
    for d in ders:
        b = base64.b64encode(d)
        out += b"-----BEGIN CERTIFICATE-----\n"
        out += b"".join(b[i:i + 64] + b"\n" for i in range(0, len(b), 64))
        out += b"-----END CERTIFICATE-----\n"
    return out


def uri_san(cert):
    """The URI SANs of a cryptography certificate."""
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return ext.value.get_values_for_type(x509.UniformResourceIdentifier)


def key_matches(svid):
    """1 when an X509SVID's x509_svid_key is the key of its leaf."""
    key = serialization.load_der_private_key(svid.x509_svid_key, None)
    cert = x509.load_der_x509_certificate(split_der(svid.x509_svid)[0])
    fmt = (serialization.Encoding.DER,
           serialization.PublicFormat.SubjectPublicKeyInfo)
    return key.public_key().public_bytes(*fmt) == \
        cert.public_key().public_bytes(*fmt)


def openssl_verify(work, name, svid, purpose=None):
    """openssl verify [-purpose P] -CAfile <bundle> [-untrusted
    <intermediates>] <leaf> for an X509SVID, files written in work.
    Returns (verified, output)."""
    leaf_der, *inter = split_der(svid.x509_svid)
    files = {"leaf": pem([leaf_der]), "bundle": pem(split_der(svid.bundle))}
    if inter:
        files["inter"] = pem(inter)
    paths = {}
    for what, data in files.items():
        paths[what] = os.path.join(work, "%s-%s.pem" % (name, what))
        with open(paths[what], "wb") as f:
            f.write(data)
    cmd = ["openssl", "verify"]
    if purpose:
        cmd += ["-purpose", purpose]
    cmd += ["-CAfile", paths["bundle"]]
    if inter:
        cmd += ["-untrusted", paths["inter"]]
    cmd.append(paths["leaf"])
    p = subprocess.run(cmd, capture_output=True, text=True)
    return (p.returncode == 0 and p.stdout.strip().endswith(": OK"),
            (p.stdout + p.stderr).strip())
