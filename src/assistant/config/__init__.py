"""Configuration: one TOML file loaded into frozen pydantic models.

Sections live in ``sections`` (core) and ``channels``; ``root.Config`` holds them all;
``loader`` reads, interpolates and validates. Import everything from here.
"""

from assistant.config.alerts import AlertsSection
from assistant.config.base import Section
from assistant.config.channels import (
    FeishuSection,
    SlackSection,
    TelegramSection,
    WhatsAppSection,
)
from assistant.config.limits import LimitsSection, RoleLimits
from assistant.config.loader import (
    DEFAULT_PATH,
    ENV_FILE_HINT,
    config_source,
    find_config_path,
    load_config,
    masked_dump,
    parse_config,
    secret_values,
)
from assistant.config.memory import MemoryEmbeddings, MemorySection, MemoryServer, SchedulerSection
from assistant.config.monitor import MonitorRule, MonitorSection
from assistant.config.root import Config, LiveConfig
from assistant.config.sections import (
    DEFAULT_SYSTEM_PROMPT,
    AccessSection,
    AgentSection,
    ApprovalsSection,
    AssistantSection,
    ChannelAccess,
    ConsoleSection,
    GatewaySection,
    LoggingSection,
    ModelProvider,
    RoutingRule,
    SpeechSection,
)
from assistant.config.ssh import CommandRule, SSHHost, SSHSection

__all__ = [
    "DEFAULT_PATH",
    "DEFAULT_SYSTEM_PROMPT",
    "ENV_FILE_HINT",
    "AccessSection",
    "AgentSection",
    "AlertsSection",
    "ApprovalsSection",
    "AssistantSection",
    "ChannelAccess",
    "CommandRule",
    "Config",
    "ConsoleSection",
    "FeishuSection",
    "GatewaySection",
    "LimitsSection",
    "LiveConfig",
    "LoggingSection",
    "MemoryEmbeddings",
    "MemorySection",
    "MemoryServer",
    "ModelProvider",
    "MonitorRule",
    "MonitorSection",
    "RoleLimits",
    "RoutingRule",
    "SSHHost",
    "SSHSection",
    "SchedulerSection",
    "Section",
    "SlackSection",
    "SpeechSection",
    "TelegramSection",
    "WhatsAppSection",
    "config_source",
    "find_config_path",
    "load_config",
    "masked_dump",
    "parse_config",
    "secret_values",
]
