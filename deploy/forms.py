"""Give the deployments `prefect deploy` made the UI forms `newsmon serve` gives its own.

    cd deploy && prefect --no-prompt deploy --all && python forms.py [--config DIR] [NAME ...]

`prefect deploy` derives each deployment's parameter form from the flow's signature, on every
deploy, and prefect.yaml cannot give another: Prefect 3.9's `prefect/cli/deploy/_core.py` sets
`deploy_config["parameter_openapi_schema"] = parameter_schema(flow)` (line 126) after reading the
file, so a `parameter_openapi_schema` key there is overwritten. The API does take a schema
afterwards (PATCH /deployments/{id}), so this script rewrites the forms of the `ingest` and
`backfill` flows' deployments (or only those NAMEd, `flow/deployment`) with newsmon.flows.forms:
optional fields plain, days as YYYY-MM-DD text, `sources` a choice among the names of the config
folder (`--config`, default NEWSMON_CONFIG_DIR or ./config: give it the workers' config), every
field described, `config_dir` hidden. Run it again after each `prefect deploy` and after adding a
source. Runs against the Prefect API of the environment (PREFECT_API_URL, or a profile).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

FLOWS = ("ingest", "backfill")


def apply_forms(config_dir: Path, names: list[str] | None = None) -> list[str]:
    """Rewrite the forms; returns the `flow/deployment` names rewritten."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentUpdate
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    from newsmon.config.loading import load_config
    from newsmon.flows.forms import form_schema

    sources = [source.name for source in load_config(config_dir).sources]
    done: list[str] = []
    with get_client(sync_client=True) as client:
        flows = {
            flow.id: flow.name
            for flow in client.read_flows(
                flow_filter=FlowFilter(name=FlowFilterName(any_=list(FLOWS)))
            )
        }
        for deployment in client.read_deployments(
            flow_filter=FlowFilter(name=FlowFilterName(any_=list(FLOWS)))
        ):
            flow = flows[deployment.flow_id]
            name = f"{flow}/{deployment.name}"
            if names and name not in names:
                continue
            schema = form_schema(deployment.parameter_openapi_schema or {}, flow, sources)
            client.update_deployment(
                deployment.id, DeploymentUpdate(parameter_openapi_schema=schema)
            )
            done.append(name)
    missing = sorted(set(names or []) - set(done))
    if missing:
        raise SystemExit(f"no such deployment: {', '.join(missing)}")
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config",
        type=Path,
        default=Path(os.environ.get("NEWSMON_CONFIG_DIR") or "config"),
        help="config folder whose sources the forms offer (default: NEWSMON_CONFIG_DIR or ./config)",
    )
    parser.add_argument("names", nargs="*", help="only these deployments (flow/deployment)")
    args = parser.parse_args()
    for name in apply_forms(args.config, args.names or None):
        print(f"{name}: form set")


if __name__ == "__main__":
    main()
