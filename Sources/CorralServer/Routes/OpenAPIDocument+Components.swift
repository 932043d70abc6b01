extension OpenAPIDocument {
    /// What the operations refer to: the security scheme, the session id parameter, the error
    /// answer and the schemas of the bodies.
    static let components = #"""
        {
          "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
          "parameters": {
            "SessionID": {"name": "id", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"}}
          },
          "responses": {
            "Error": {"description": "what went wrong", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
          },
          "schemas": {
            "Error": {
              "type": "object",
              "required": ["error", "code"],
              "properties": {"error": {"type": "string"}, "code": {"type": "string", "enum": [\#(APIError.codes.map { "\"\($0)\"" }.joined(separator: ", "))]}}
            },
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
                "start": {"type": "string", "enum": ["warm", "cold", "fork"], "description": "warm: a prewarmed idle agent took the session; fork: forked from the profile's template; cold: spawned for it"},
                "started_at": {"type": "string", "format": "date-time"},
                "expires_at": {"type": "string", "format": "date-time"},
                "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                "processes": {"type": "integer"},
                "memory_bytes": {"type": "integer", "description": "charged to the session's cgroup: what it added (pages shared with a template stay the template's); else the sum of its processes' RSS"},
                "pss_bytes": {"type": "integer", "description": "sessions of a template profile: the sum of their processes' PSS, shared pages split among the processes sharing them"}
              }
            },
            "Templates": {
              "type": "object",
              "required": ["templates"],
              "properties": {
                "templates": {"type": "array", "items": {
                  "type": "object",
                  "required": ["agent", "state", "template_id", "pid", "started_at", "ready_at", "forks", "fork_failures", "restarts", "failures_in_a_row", "last_error", "retry_in_ms", "queued", "max_queued_forks", "memory_limit_mb", "memory_bytes", "pss_bytes"],
                  "properties": {
                    "agent": {"type": "string"},
                    "state": {"type": "string", "enum": ["starting", "ready", "waiting"]},
                    "template_id": {"type": ["string", "null"]},
                    "pid": {"type": ["integer", "null"]},
                    "started_at": {"type": ["string", "null"], "format": "date-time"},
                    "ready_at": {"type": ["string", "null"], "format": "date-time"},
                    "forks": {"type": "integer", "minimum": 0},
                    "fork_failures": {"type": "integer", "minimum": 0},
                    "restarts": {"type": "integer", "minimum": 0},
                    "failures_in_a_row": {"type": "integer", "minimum": 0},
                    "last_error": {"type": ["string", "null"]},
                    "retry_in_ms": {"type": ["integer", "null"]},
                    "queued": {"type": "integer", "minimum": 0},
                    "max_queued_forks": {"type": "integer", "minimum": 1},
                    "memory_limit_mb": {"type": ["integer", "null"]},
                    "memory_bytes": {"type": ["integer", "null"]},
                    "pss_bytes": {"type": ["integer", "null"]}
                  }
                }}
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
                "errors": {"type": "array", "items": {"type": "string"}},
                "memory_bytes": {"type": "integer", "description": "charged to the session's cgroup (what it added), else the sum of its processes' RSS"},
                "pss_bytes": {"type": "integer", "description": "the sum of its processes' PSS: what the session really costs where it shares pages"}
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
        """#
}
