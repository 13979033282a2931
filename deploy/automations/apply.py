"""Create or update the Prefect Automations in a YAML file, idempotently (matched by name).

    python deploy/automations/apply.py [--file alert-webhook.yaml] [--webhook-url URL]

`Automation.create()` and `prefect automation create` do not dedupe by name: running them twice
doubles every notification. This script updates an automation of the same name instead (and deletes
extra copies left by earlier tools). An action's `block_document_name: <block-type>/<name>` is
replaced by that block's id. With `--webhook-url`, the `custom-webhook/newsmon-alert-webhook`
notification block is saved first (overwritten if it exists), posting JSON `{subject, body}`.

Runs against the Prefect API of the environment (PREFECT_API_URL, or a profile).
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import Any
from uuid import UUID

import yaml

HERE = Path(__file__).parent
WEBHOOK_BLOCK = "newsmon-alert-webhook"


def save_webhook_block(url: str, name: str = WEBHOOK_BLOCK) -> UUID:
    """Save the notification block that POSTs an automation's subject and body to `url`."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    block = CustomWebhookNotificationBlock(
        name="newsmon alerts",
        url=url,
        method="POST",
        json_data={"subject": "{{subject}}", "body": "{{body}}"},
    )
    return block.save(name, overwrite=True, _sync=True)  # type: ignore[call-arg,no-any-return]


def load_automations(path: Path) -> list[dict[str, Any]]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    entries = document.get("automations") if isinstance(document, dict) else document
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a list of automations (under 'automations:')")
    return entries


def _resolve_blocks(client: Any, automation: dict[str, Any]) -> dict[str, Any]:
    resolved = copy.deepcopy(automation)
    for action in resolved.get("actions", []):
        name = action.pop("block_document_name", None)
        if name:
            block_type, _, block_name = name.partition("/")
            document = client.read_block_document_by_name(
                name=block_name, block_type_slug=block_type
            )
            action["block_document_id"] = str(document.id)
    return resolved


def apply(path: Path, *, webhook_url: str | None = None) -> list[tuple[str, str, UUID]]:
    """Create or update each automation in `path`; [(name, "created" | "updated", id)]."""
    from prefect.client.orchestration import get_client
    from prefect.events.schemas.automations import AutomationCore

    if webhook_url:
        save_webhook_block(webhook_url)
    done = []
    with get_client(sync_client=True) as client:
        for entry in load_automations(path):
            automation = AutomationCore.model_validate(_resolve_blocks(client, entry))
            existing = client.read_automations_by_name(automation.name)
            if existing:
                keep, *extra = sorted(existing, key=lambda a: str(a.id))
                client.update_automation(keep.id, automation)
                for copy_ in extra:
                    client.delete_automation(copy_.id)
                done.append((automation.name, "updated", keep.id))
            else:
                done.append((automation.name, "created", client.create_automation(automation)))
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=HERE / "alert-webhook.yaml")
    parser.add_argument("--webhook-url", help=f"save the {WEBHOOK_BLOCK!r} block with this URL")
    args = parser.parse_args()
    for name, what, automation_id in apply(args.file, webhook_url=args.webhook_url):
        print(f"{what} automation {name!r} ({automation_id})")


if __name__ == "__main__":
    main()
