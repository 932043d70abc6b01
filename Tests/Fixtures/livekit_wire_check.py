#!/usr/bin/env python3
"""LiveKit's own generated protobuf classes (livekit-protocol, pinned in
livekit-requirements.txt) on one side of corral's LiveKitWorkerProtocol, for the Swift tests that
check the two speak the same wire format.

    python livekit_wire_check.py decode WorkerMessage|ServerMessage BASE64
        prints the message as JSON (proto field names, enums by name, 64-bit ints as strings),
        with "which" naming the oneof that is set; exits 1 when the bytes do not parse
    python livekit_wire_check.py encode
        prints {"NAME": BASE64, ...}: server messages LiveKit would send, some with fields of
        LiveKit's newer schema that corral's .proto leaves out
"""

import base64
import json
import sys

from google.protobuf import json_format
from livekit.protocol import agent, models

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJl"


def job():
    j = agent.Job(
        id="AJ_wire",
        dispatch_id="AD_wire",
        type=agent.JT_PUBLISHER,
        room=models.Room(sid="RM_wire", name="wire-room", metadata="room-meta", creation_time=1700000000, num_participants=2),
        metadata="job-meta",
        agent_name="wire-agent",
        attributes={"tier": "gold"},
        enable_recording=True,
    )
    j.participant.CopyFrom(models.ParticipantInfo(
        sid="PA_wire",
        identity="caller",
        name="Caller",
        metadata="participant-meta",
        kind=models.ParticipantInfo.SIP,
        attributes={"sip.phoneNumber": "+15550100"},
        state=models.ParticipantInfo.ACTIVE,
    ))
    # Fields corral's .proto leaves out (LiveKit's newer schema): they must survive decoding.
    j.participant.tracks.add(sid="TR_wire", name="mic")
    j.room.version.unix_micro = 1700000000000000
    j.state.status = agent.JS_RUNNING
    j.state.worker_id = "AW_wire"
    j.state.started_at = 1700000000123456789
    j.state.reason = agent.JSR_RETRYING
    return j


def encode():
    messages = {
        "register": agent.ServerMessage(register=agent.RegisterWorkerResponse(
            worker_id="AW_wire",
            server_info=models.ServerInfo(edition=models.ServerInfo.Cloud, version="1.9.0", protocol=16, agent_protocol=1, region="eu", node_id="ND_wire"),
            endpoint_settings=agent.AgentHttp.AgentEndpointSettings(protocol=3),
        )),
        "availability": agent.ServerMessage(availability=agent.AvailabilityRequest(job=job(), resuming=True)),
        "assignment": agent.ServerMessage(assignment=agent.JobAssignment(job=job(), url="wss://elsewhere.example", token=TOKEN)),
        "termination": agent.ServerMessage(termination=agent.JobTermination(job_id="AJ_wire")),
        "pong": agent.ServerMessage(pong=agent.WorkerPong(last_timestamp=-5, timestamp=1700000000000)),
        "go_away": agent.ServerMessage(go_away=agent.AgentHttp.GoAway(reason="draining")),
    }
    print(json.dumps({name: base64.b64encode(m.SerializeToString()).decode() for name, m in messages.items()}))


def decode(kind, data):
    message = getattr(agent, kind)()
    try:
        message.ParseFromString(base64.b64decode(data))
    except Exception as error:  # noqa: BLE001
        print("does not parse: %s" % error, file=sys.stderr)
        sys.exit(1)
    out = json_format.MessageToDict(message, preserving_proto_field_name=True)
    out["which"] = message.WhichOneof("message")
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1:2] == ["encode"]:
        encode()
    elif len(sys.argv) == 4 and sys.argv[1] == "decode":
        decode(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
