"""`python -m alignment.training <step> --config cfg.json [--data file.jsonl] --out DIR`."""

from alignment.training.cli import main

raise SystemExit(main())
