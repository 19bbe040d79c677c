"""What a role may do. Pure decisions: the policy reads only the role and the permission."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from assistant.core.roles import DEFAULT_PERMISSIONS, Permission, Role


class Policy:
    def __init__(self, overrides: Mapping[Role, Sequence[Permission]] | None = None) -> None:
        self._table: dict[Role, frozenset[Permission]] = {}
        self.configure(overrides or {})

    def configure(self, overrides: Mapping[Role, Sequence[Permission]]) -> None:
        """Apply ``[access.permissions]``; roles not mentioned keep their defaults.

        The owner always keeps every permission: a config typo must not lock the owner out.
        """
        table = dict(DEFAULT_PERMISSIONS)
        for role, permissions in overrides.items():
            if role is not Role.OWNER:
                table[role] = implied(frozenset(permissions))
        self._table = table

    def permissions(self, role: Role) -> frozenset[Permission]:
        return self._table.get(role, frozenset())

    def allows(self, role: Role, permission: Permission) -> bool:
        return permission in self._table.get(role, frozenset())


def implied(permissions: frozenset[Permission]) -> frozenset[Permission]:
    """``exec`` (any command, asking when the policy cannot allow it) includes
    ``exec.readonly`` (only what the policy allows outright): /run and /hosts need the latter."""
    if Permission.EXEC in permissions:
        return permissions | {Permission.EXEC_READONLY}
    return permissions
