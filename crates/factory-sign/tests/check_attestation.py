#!/usr/bin/env python3
"""Reads an .intoto.jsonl file the way an in-toto consumer does, with the stock bindings.

For each envelope (one per line): the payload type must be in-toto's; the payload must
parse strictly as an in-toto Statement v1 (unknown or mistyped fields refused) and pass
the bindings' validation; its predicate must parse strictly as a SLSA provenance v1 with
the fields SLSA requires. The PAE is rebuilt here, independently of Factory, and written
with the decoded signature to OUT/N.pae and OUT/N.sig for gpgv. Each subject is printed
as `N NAME SHA256`. Any failure exits non-zero with the reason.

Usage: check_attestation.py FILE.intoto.jsonl OUT_DIR
"""

import base64
import json
import sys

from google.protobuf import json_format
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2

PAYLOAD_TYPE = "application/vnd.in-toto+json"
SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"


def pae(payload_type: str, payload: bytes) -> bytes:
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def check(number: int, line: str, out: str) -> None:
    envelope = json.loads(line)
    if set(envelope) != {"payloadType", "payload", "signatures"}:
        raise ValueError(f"envelope fields {sorted(envelope)}")
    if envelope["payloadType"] != PAYLOAD_TYPE:
        raise ValueError(f"payload type {envelope['payloadType']}")
    payload = base64.b64decode(envelope["payload"], validate=True)

    proto = json_format.Parse(payload, statement_pb2.Statement())
    Statement.copy_from_pb(proto).validate()
    if proto.predicate_type != SLSA_PROVENANCE_V1:
        raise ValueError(f"predicate type {proto.predicate_type}")
    predicate = json_format.ParseDict(
        json.loads(payload)["predicate"], provenance_pb2.Provenance()
    )
    definition = predicate.build_definition
    if not definition.build_type or not definition.HasField("external_parameters"):
        raise ValueError("buildDefinition needs buildType and externalParameters")
    if not predicate.run_details.builder.id:
        raise ValueError("runDetails.builder.id is required")

    for subject in proto.subject:
        print(number, subject.name, subject.digest["sha256"])
    signature = envelope["signatures"][0]
    with open(f"{out}/{number}.pae", "wb") as f:
        f.write(pae(envelope["payloadType"], payload))
    with open(f"{out}/{number}.sig", "wb") as f:
        f.write(base64.b64decode(signature["sig"], validate=True))
    with open(f"{out}/{number}.keyid", "w") as f:
        f.write(signature["keyid"])


def main() -> None:
    path, out = sys.argv[1], sys.argv[2]
    with open(path) as f:
        lines = f.read().split("\n")
    if lines[-1] != "":
        raise SystemExit("the last envelope is not ended by a newline")
    for number, line in enumerate(lines[:-1]):
        try:
            check(number, line, out)
        except Exception as error:  # every failure is the answer, with its reason
            raise SystemExit(f"envelope {number}: {type(error).__name__}: {error}")


main()
