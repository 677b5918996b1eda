"""Regenerate the committed gRPC stubs in gateway/providerpb from proto/v1alpha1/service.proto.

Usage: uv run python scripts/gen_proto.py [--out DIR]

With --out the stubs are written below DIR instead of the repository (the
freshness test uses this to compare a fresh generation with the committed files).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grpc_tools import protoc

REPO = Path(__file__).resolve().parent.parent
PROTO_DIR = REPO / "proto" / "v1alpha1"
PACKAGE_PATH = "gateway/providerpb"
GENERATED = ("service_pb2.py", "service_pb2.pyi", "service_pb2_grpc.py")


def generate(out_root: Path) -> list[Path]:
    """Generate the stubs below ``out_root`` and return the generated files."""
    (out_root / PACKAGE_PATH).mkdir(parents=True, exist_ok=True)
    import grpc_tools

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PACKAGE_PATH}={PROTO_DIR}",
        f"-I{well_known}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        f"{PACKAGE_PATH}/service.proto",
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed: " + " ".join(args))
    return [out_root / PACKAGE_PATH / name for name in GENERATED]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO, help="root directory to write gateway/providerpb into")
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(path.relative_to(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
