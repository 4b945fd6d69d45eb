from curation.report.build import main

raise SystemExit(main())
