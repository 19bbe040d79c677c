"""Who may talk: owners and allowlists from the config, plus users granted at run time."""

from __future__ import annotations

from assistant.config import AccessSection
from assistant.core.messages import ChatRef
from assistant.core.roles import Role
from assistant.store.users import Users

CONSOLE = "console"


class Access:
    """An empty allowlist means nobody. The console's ``local`` person (the terminal, and the
    owner's console token) is the owner; other console people have the role their token
    granted (``users``, channel ``console``)."""

    def __init__(self, config: AccessSection, users: Users) -> None:
        self.users = users
        self.configure(config)

    def configure(self, config: AccessSection) -> None:
        self._config = config
        self._owners = frozenset(config.owners)

    def is_owner_in_config(self, channel: str, user_id: str) -> bool:
        return f"{channel}:{user_id}" in self._owners

    def configured_role(self, channel: str, user_id: str) -> Role | None:
        if (channel == CONSOLE and user_id == "local") or self.is_owner_in_config(channel, user_id):
            return Role.OWNER
        return self._config.channel(channel).users.get(user_id)

    async def role(self, channel: str, user_id: str) -> Role | None:
        """The sender's role, or None for a stranger. The config wins over grants."""
        configured = self.configured_role(channel, user_id)
        if configured is not None:
            return configured
        return await self.users.role(channel, user_id)

    async def chat_allowed(self, chat: ChatRef) -> bool:
        """Private chats are decided by the sender's role; groups must be allowlisted."""
        if not chat.is_group or chat.channel == CONSOLE:
            return True
        if chat.chat_id in self._config.channel(chat.channel).groups:
            return True
        return await self.users.group_allowed(chat.channel, chat.chat_id)

    async def approver_chats(self, running: set[str]) -> list[ChatRef]:
        """Private chats of everyone who may approve: owners and admins, on running
        channels (a private chat's id is its person's id)."""
        found: dict[tuple[str, str], None] = {}
        for owner in self._config.owners:
            channel, _, user_id = owner.partition(":")
            found[(channel, user_id)] = None
        for channel in running:
            for user_id, role in self._config.channel(channel).users.items():
                if role in (Role.OWNER, Role.ADMIN):
                    found[(channel, user_id)] = None
        for grant in await self.users.granted():
            if grant.role in (Role.OWNER, Role.ADMIN):
                found[(grant.channel, grant.user_id)] = None
        if CONSOLE in running:
            found[(CONSOLE, "local")] = None
        return [ChatRef(c, u) for c, u in found if c in running]
