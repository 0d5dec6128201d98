from vpnwatch.cli import main

raise SystemExit(main())
