"""The write-path commands of ``tuwen`` (ingest, stats, finetune), and what every command
shares: exit codes, one-line errors, the store options and the settings they override.

``service.cli`` builds the ``tuwen`` parser from these and the answering commands.
"""

from ingest.cli.base import (
    EXIT_FATAL,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    SETTING_FLAGS,
    CliError,
    add_store_options,
    settings_from,
)
from ingest.cli.finetune import add_finetune, cmd_finetune
from ingest.cli.index import add_ingest, add_stats, cmd_ingest, cmd_stats

__all__ = [
    "EXIT_FATAL",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_USAGE",
    "SETTING_FLAGS",
    "CliError",
    "add_finetune",
    "add_ingest",
    "add_stats",
    "add_store_options",
    "cmd_finetune",
    "cmd_ingest",
    "cmd_stats",
    "settings_from",
]
