/// The OpenAPI 3.1 description of the whole HTTP API, served at `/openapi.json`. A test checks it
/// against the routes the server registers and the answers it gives.
enum OpenAPIDocument {
    static let json = #"""
        {
          "openapi": "3.1.0",
          "info": {
            "title": "corral",
            "version": "1.0.0",
            "description": "Supervises voice-agent sessions: one agent process tree per session, ended completely. All /api routes need `Authorization: Bearer <token>` when tokens are configured; roles: read (list, inspect, logs, events), operate (also start and end), admin (also unredacted command lines and environments). Without any token every caller has the operate role, and every route but /healthz, /readyz and the LiveKit webhook answers 421 to a Host that is not one of corral's own names (loopback, listen, advertise_url, allowed_hosts). On /api routes, a browser request from another origin (Origin other than the request's own scheme://Host, or Sec-Fetch-Site: cross-site) gets 403, and a POST body must be sent as application/json (415). Any request gets 408 if it does not arrive in full within request_timeout_seconds, and 431 if its headers are over the limits (100 fields, 16 KiB each, 32 KiB in all)."
          },
          "security": [{"bearer": []}],
          "paths": {
            "/healthz": {
              "get": {"summary": "Liveness", "security": [], "responses": {"200": {"description": "alive", "content": {"application/json": {"schema": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}}}}}}}
            },
            "/readyz": {
              "get": {"summary": "Readiness: the session store answers", "security": [], "responses": {
                "200": {"description": "ready", "content": {"application/json": {"schema": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}}}},
                "503": {"description": "the store cannot be reached", "content": {"application/json": {"schema": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}, "error": {"type": "string"}}}}}}
              }}
            },
            "/metrics": {
              "get": {"summary": "Prometheus metrics", "security": [], "responses": {"200": {"description": "text exposition format", "content": {"text/plain": {"schema": {"type": "string"}}}}, "421": {"$ref": "#/components/responses/Error"}}}
            },
            "/openapi.json": {
              "get": {"summary": "This document", "security": [], "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}, "421": {"$ref": "#/components/responses/Error"}}}
            },
            "/": {
              "get": {"summary": "The dashboard page", "security": [], "responses": {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}, "421": {"$ref": "#/components/responses/Error"}}}
            },
            "/api/sessions": {
              "post": {
                "summary": "Start a session",
                "description": "Spawns the agent profile's command as the leader of a new session and process group. Needs role operate. A body must be sent with Content-Type: application/json; without a body the defaults apply.",
                "requestBody": {"required": false, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/StartRequest"}}}},
                "responses": {
                  "201": {"description": "started", "headers": {"Corral-Session-Id": {"schema": {"type": "string"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Session"}}}},
                  "400": {"$ref": "#/components/responses/Error"},
                  "401": {"$ref": "#/components/responses/Error"},
                  "403": {"$ref": "#/components/responses/Error"},
                  "404": {"$ref": "#/components/responses/Error"},
                  "408": {"$ref": "#/components/responses/Error"},
                  "409": {"$ref": "#/components/responses/Error"},
                  "413": {"$ref": "#/components/responses/Error"},
                  "415": {"$ref": "#/components/responses/Error"},
                  "421": {"$ref": "#/components/responses/Error"},
                  "429": {"$ref": "#/components/responses/Error"},
                  "431": {"$ref": "#/components/responses/Error"},
                  "500": {"$ref": "#/components/responses/Error"},
                  "503": {"$ref": "#/components/responses/Error"}
                }
              },
              "get": {
                "summary": "List live sessions",
                "parameters": [{"name": "usage", "in": "query", "required": false, "schema": {"type": "string", "enum": ["", "true", "false", "1", "0", "yes", "no"]}, "description": "Also report processes and memory_bytes per session."}],
                "responses": {
                  "200": {"description": "the sessions", "content": {"application/json": {"schema": {"type": "object", "required": ["sessions"], "properties": {"sessions": {"type": "array", "items": {"$ref": "#/components/schemas/Session"}}}}}}},
                  "400": {"$ref": "#/components/responses/Error"},
                  "401": {"$ref": "#/components/responses/Error"},
                  "403": {"$ref": "#/components/responses/Error"},
                  "421": {"$ref": "#/components/responses/Error"},
                  "503": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/api/sessions/{id}": {
              "parameters": [{"$ref": "#/components/parameters/SessionID"}],
              "get": {
                "summary": "One live session",
                "responses": {
                  "200": {"description": "the session", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Session"}}}},
                  "400": {"$ref": "#/components/responses/Error"},
                  "401": {"$ref": "#/components/responses/Error"},
                  "403": {"$ref": "#/components/responses/Error"},
                  "404": {"$ref": "#/components/responses/Error"},
                  "421": {"$ref": "#/components/responses/Error"},
                  "503": {"$ref": "#/components/responses/Error"}
                }
              },
              "delete": {
                "summary": "End a session",
                "description": "SIGTERM to every process of the session, SIGKILL after grace_seconds; answers once nothing of it is left. Needs role operate.",
                "responses": {
                  "200": {"description": "ended", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EndResult"}}}},
                  "400": {"$ref": "#/components/responses/Error"},
                  "401": {"$ref": "#/components/responses/Error"},
                  "403": {"$ref": "#/components/responses/Error"},
                  "404": {"$ref": "#/components/responses/Error"},
                  "421": {"$ref": "#/components/responses/Error"},
                  "503": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/api/sessions/{id}/logs": {
              "parameters": [{"$ref": "#/components/parameters/SessionID"}],
              "get": {
                "summary": "The agent's output",
                "description": "For everyone but admins, secrets in the lines are redacted. A followed log counts toward the caller's max_streams_per_token (with event streams); past it, 429.",
                "parameters": [
                  {"name": "tail", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0, "maximum": 100000, "default": 100}},
                  {"name": "follow", "in": "query", "required": false, "schema": {"type": "string", "enum": ["", "true", "false", "1", "0", "yes", "no"]}}
                ],
                "responses": {
                  "200": {"description": "the last lines, then (follow) what is written until the session ends", "content": {"text/plain": {"schema": {"type": "string"}}}},
                  "400": {"$ref": "#/components/responses/Error"},
                  "401": {"$ref": "#/components/responses/Error"},
                  "403": {"$ref": "#/components/responses/Error"},
                  "404": {"$ref": "#/components/responses/Error"},
                  "421": {"$ref": "#/components/responses/Error"},
                  "429": {"$ref": "#/components/responses/Error"},
                  "503": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/api/debug/session/{id}/processes": {
              "parameters": [{"$ref": "#/components/parameters/SessionID"}],
              "get": {
                "summary": "Every process of a session",
                "responses": {
                  "200": {"description": "the processes, the leader first", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ProcessReport"}}}},
                  "400": {"$ref": "#/components/responses/Error"},
                  "401": {"$ref": "#/components/responses/Error"},
                  "403": {"$ref": "#/components/responses/Error"},
                  "404": {"$ref": "#/components/responses/Error"},
                  "421": {"$ref": "#/components/responses/Error"},
                  "503": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/api/livekit/webhook": {
              "post": {
                "summary": "LiveKit webhooks",
                "description": "Authenticated by LiveKit's signature, not the API token: the Authorization header is LiveKit's HS256 JWT (no Bearer prefix) with a sha256 claim of the body; the token is checked before the body (64 KiB at most) is read. room_finished ends the room's sessions, participant_left ends the agent of that identity in that room, room_started starts auto_dispatch_agent. An event this node has acted on (same id), or created longer ago than a signature is valid (6 minutes), is answered 200 with `ignored` and changes nothing.",
                "security": [],
                "requestBody": {"required": true, "content": {"application/webhook+json": {"schema": {"type": "object"}}, "application/json": {"schema": {"type": "object"}}}},
                "responses": {
                  "200": {"description": "handled, or ignored", "content": {"application/json": {"schema": {"type": "object", "required": ["event"], "properties": {"event": {"type": "string"}, "ignored": {"type": "string", "description": "why nothing was done: already acted on, created too long ago"}}}}}},
                  "400": {"$ref": "#/components/responses/Error"},
                  "401": {"$ref": "#/components/responses/Error"},
                  "403": {"$ref": "#/components/responses/Error"},
                  "404": {"$ref": "#/components/responses/Error"},
                  "408": {"$ref": "#/components/responses/Error"},
                  "413": {"$ref": "#/components/responses/Error"},
                  "415": {"$ref": "#/components/responses/Error"},
                  "431": {"$ref": "#/components/responses/Error"},
                  "503": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/api/prewarm": {
              "get": {
                "summary": "This node's idle prewarmed agents and each profile's prewarm target",
                "responses": {
                  "200": {"description": "idle agents", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Prewarm"}}}},
                  "401": {"$ref": "#/components/responses/Error"},
                  "403": {"$ref": "#/components/responses/Error"},
                  "421": {"$ref": "#/components/responses/Error"},
                  "503": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/api/events": {
              "get": {
                "summary": "Session events as Server-Sent Events",
                "description": "Counts toward the caller's max_streams_per_token (with followed logs); past it, 429.",
                "responses": {
                  "200": {"description": "event: <type>, id: <sequence>, data: <Event as JSON>", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                  "401": {"$ref": "#/components/responses/Error"},
                  "403": {"$ref": "#/components/responses/Error"},
                  "421": {"$ref": "#/components/responses/Error"},
                  "429": {"$ref": "#/components/responses/Error"},
                  "503": {"$ref": "#/components/responses/Error"}
                }
              }
            }
          },
          "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "parameters": {
              "SessionID": {"name": "id", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"}}
            },
            "responses": {
              "Error": {"description": "what went wrong", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            },
            "schemas": {
              "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
              "StartRequest": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                  "agent": {"type": ["string", "null"], "minLength": 1},
                  "session_id": {"type": ["string", "null"], "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"},
                  "metadata": {"type": ["object", "null"], "maxProperties": 64, "additionalProperties": {"type": "string"}},
                  "timeout_seconds": {"type": ["number", "null"], "exclusiveMinimum": 0},
                  "livekit": {"type": ["object", "null"], "additionalProperties": false, "required": ["room"], "properties": {"room": {"type": "string", "minLength": 1, "maxLength": 256}, "identity": {"type": ["string", "null"], "minLength": 1, "maxLength": 256}}}
                }
              },
              "Session": {
                "type": "object",
                "required": ["session_id", "agent", "pid", "pgid", "is_group_leader", "status", "containment", "started_at", "expires_at", "metadata"],
                "properties": {
                  "session_id": {"type": "string"},
                  "agent": {"type": "string"},
                  "pid": {"type": ["integer", "null"]},
                  "pgid": {"type": ["integer", "null"]},
                  "is_group_leader": {"type": "boolean"},
                  "status": {"type": "string", "enum": ["starting", "running", "stopping", "lost"], "description": "lost: the session's node does not answer (several nodes)"},
                  "node": {"type": "string", "description": "the node running it"},
                  "livekit": {"type": "object", "properties": {"room": {"type": "string"}, "identity": {"type": "string"}}},
                  "containment": {"type": "string", "enum": ["cgroup", "process-group"]},
                  "start": {"type": "string", "enum": ["warm", "cold"], "description": "warm: a prewarmed idle agent took the session; cold: spawned for it"},
                  "started_at": {"type": "string", "format": "date-time"},
                  "expires_at": {"type": "string", "format": "date-time"},
                  "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                  "processes": {"type": "integer"},
                  "memory_bytes": {"type": "integer"}
                }
              },
              "Prewarm": {
                "type": "object",
                "required": ["targets", "idle"],
                "properties": {
                  "targets": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
                  "idle": {"type": "array", "items": {
                    "type": "object",
                    "required": ["idle_id", "agent", "pid", "state", "containment", "started_at"],
                    "properties": {
                      "idle_id": {"type": "string"},
                      "agent": {"type": "string"},
                      "pid": {"type": ["integer", "null"]},
                      "state": {"type": "string", "enum": ["loading", "ready"]},
                      "containment": {"type": "string", "enum": ["cgroup", "process-group"]},
                      "started_at": {"type": "string", "format": "date-time"},
                      "processes": {"type": "integer"},
                      "memory_bytes": {"type": "integer"}
                    }
                  }}
                }
              },
              "EndResult": {
                "type": "object",
                "required": ["session_id", "outcome", "reason", "duration_ms"],
                "properties": {
                  "session_id": {"type": "string"},
                  "outcome": {"type": "string", "enum": ["exited", "terminated", "killed"]},
                  "reason": {"type": "string"},
                  "duration_ms": {"type": "integer", "minimum": 0}
                }
              },
              "Process": {
                "type": "object",
                "required": ["pid", "ppid", "pgid", "cmd"],
                "properties": {
                  "pid": {"type": "integer"},
                  "ppid": {"type": "integer"},
                  "pgid": {"type": "integer"},
                  "cmd": {"type": "string"},
                  "env": {"type": "object", "additionalProperties": {"type": "string"}, "description": "admin only"}
                }
              },
              "ProcessReport": {
                "type": "object",
                "required": ["session_id", "pid", "pgid", "is_group_leader", "is_process_alive", "is_group_alive", "child_processes", "session_data", "errors"],
                "properties": {
                  "session_id": {"type": "string"},
                  "pid": {"type": ["integer", "null"]},
                  "pgid": {"type": ["integer", "null"]},
                  "is_group_leader": {"type": "boolean"},
                  "is_process_alive": {"type": "boolean"},
                  "is_group_alive": {"type": "boolean"},
                  "child_processes": {"type": "array", "items": {"$ref": "#/components/schemas/Process"}},
                  "session_data": {"type": "object"},
                  "errors": {"type": "array", "items": {"type": "string"}}
                }
              },
              "Event": {
                "type": "object",
                "required": ["sequence", "type", "time", "session_id", "agent"],
                "properties": {
                  "sequence": {"type": "integer"},
                  "type": {"type": "string", "enum": ["session.started", "session.ready", "session.status", "session.ended", "session.escape", "session.limit"]},
                  "time": {"type": "string", "format": "date-time"},
                  "session_id": {"type": "string"},
                  "agent": {"type": "string"}
                }
              }
            }
          }
        }
        """#
}
