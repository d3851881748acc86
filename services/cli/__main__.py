"""`python -m services.cli`: the `crmio` command."""

from services.cli.main import main

main()
