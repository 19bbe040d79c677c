"""Roles and the permissions they grant by default.

The policy (``assistant.security.policy``) decides with these; the config may override the
permissions of any role. Nothing a model says can change them.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    USER = "user"
    GUEST = "guest"


class Permission(StrEnum):
    CHAT = "chat"  # talk to the model, /help, /new, /status
    MODEL = "model"  # switch the conversation's model
    SYSTEM = "system"  # read this machine's status
    EXEC = "exec"  # run commands on SSH hosts (subject to the command policy)
    EXEC_READONLY = "exec.readonly"  # run only commands the policy allows outright
    APPROVE = "approve"  # approve or deny other people's requests
    MEMORY = "memory"  # remember, recall and forget
    SCHEDULE = "schedule"  # reminders, scheduled jobs, monitoring checks
    ADMIN = "admin"  # pairing, users and roles
    WEB_READ = "web.read"  # GET/HEAD web pages and HTTP APIs (other methods ask)
    ALERTS = "alerts"  # see alerts, acknowledge them, silence them


DEFAULT_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: frozenset(Permission),
    Role.ADMIN: frozenset(Permission) - {Permission.ADMIN},
    Role.USER: frozenset(
        {
            Permission.CHAT,
            Permission.MODEL,
            Permission.SYSTEM,
            Permission.EXEC_READONLY,
            Permission.MEMORY,
            Permission.SCHEDULE,
            Permission.WEB_READ,
        }
    ),
    Role.GUEST: frozenset({Permission.CHAT}),
}
