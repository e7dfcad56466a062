"""`python -m benchmarks`: print every benchmark's figures (today, the cold-start comparison)."""

from benchmarks.cold_start import main

raise SystemExit(main())
