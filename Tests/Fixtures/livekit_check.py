#!/usr/bin/env python3
"""LiveKit's own server SDK (livekit-api) checking corral's tokens and signing webhooks for it.

  livekit_check.py verify-token TOKEN API_KEY API_SECRET ROOM IDENTITY
      exits 0 if the SDK's TokenVerifier accepts TOKEN and it grants joining ROOM as IDENTITY
  livekit_check.py sign-webhook API_KEY API_SECRET BODY_FILE TTL_SECONDS
      prints the Authorization value LiveKit's server would send with that body"""
import base64
import datetime
import hashlib
import json
import sys

from livekit import api


def main():
    command = sys.argv[1]
    if command == "verify-token":
        token, key, secret, room, identity = sys.argv[2:7]
        claims = api.TokenVerifier(key, secret).verify(token)
        problems = []
        if claims.identity != identity:
            problems.append(f"identity {claims.identity!r} != {identity!r}")
        if claims.video.room_join is not True:
            problems.append("no roomJoin grant")
        if claims.video.room != room:
            problems.append(f"room {claims.video.room!r} != {room!r}")
        if problems:
            print("; ".join(problems), file=sys.stderr)
            return 1
        print(json.dumps({"identity": claims.identity, "room": claims.video.room}))
        return 0
    if command == "sign-webhook":
        key, secret, body_file, ttl = sys.argv[2:6]
        with open(body_file, encoding="utf-8") as f:
            body = f.read()
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        token = api.AccessToken(key, secret).with_sha256(digest).with_ttl(datetime.timedelta(seconds=int(ttl)))
        print(token.to_jwt())
        return 0
    print(f"unknown command {command}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
